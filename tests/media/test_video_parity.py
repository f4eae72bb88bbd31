"""Video parity (app.media.video_parity): a lost packet is rebuilt from its group's parity
without a round trip, only between peers that both say they use it, and the playout then
follows the late frames instead of a whole round trip."""

from __future__ import annotations

import asyncio
import random

from aiortc.rtp import RtpPacket

from app.media.ladder import rung_index
from app.media.video_parity import (
    WIDE_GROUPS,
    ParityDecoder,
    ParityEncoder,
    is_parity,
    parse_parity,
)
from tests.media.parity_receiver import parity_wire

SSRC = 0x1234_5678


def _frames(n: int, seed: int = 1) -> list[list[RtpPacket]]:
    """``n`` frames of 1–3 packets of random bytes and sizes, consecutive sequence numbers
    across a wrap, the last packet of each frame marked."""
    rnd = random.Random(seed)
    seq, frames = 65_530, []
    for f in range(n):
        count = rnd.choice([1, 1, 2, 3])
        packets = []
        for i in range(count):
            payload = rnd.randbytes(rnd.randint(40, 1200))
            packets.append(
                RtpPacket(
                    payload_type=97,
                    marker=int(i == count - 1),
                    sequence_number=seq,
                    timestamp=(4_294_960_000 + f * 6000) % (1 << 32),
                    ssrc=SSRC,
                    payload=payload,
                )
            )
            seq = (seq + 1) & 0xFFFF
        frames.append(packets)
    return frames


def _same(a: RtpPacket, b: RtpPacket) -> bool:
    return (a.sequence_number, a.timestamp, a.marker, a.payload, a.ssrc, a.payload_type) == (
        b.sequence_number,
        b.timestamp,
        b.marker,
        b.payload,
        b.ssrc,
        b.payload_type,
    )


def test_one_lost_packet_per_group_is_rebuilt_bit_for_bit() -> None:
    frames = _frames(60)
    media = [p for f in frames for p in f]
    wire = parity_wire(frames, WIDE_GROUPS)
    parities = [p for p in wire if is_parity(p.payload)]
    assert 0.15 < len(parities) / len(media) < 0.35  # about one per four packets
    # Lose the first packet of every group.
    lost = {parse_parity(p, 0.0).first for p in parities}
    decoder, handed_on = ParityDecoder(), []
    for p in wire:
        if p.sequence_number in lost and not is_parity(p.payload):
            continue
        handed_on.extend(decoder.feed(p, now=0.0))
    assert not any(is_parity(p.payload) for p in handed_on)  # never the codec's
    by_seq = {p.sequence_number: p for p in handed_on}
    assert len(by_seq) == len(media) and decoder.recovered == len(lost)
    assert all(_same(by_seq[p.sequence_number], p) for p in media)


def test_two_losses_in_a_group_wait_for_a_retransmission_of_one() -> None:
    frames = _frames(8, seed=2)
    wire = parity_wire(frames, WIDE_GROUPS)
    first_group = []
    for p in wire:
        if is_parity(p.payload):
            break
        first_group.append(p)
    a, b = first_group[0], first_group[1]
    decoder = ParityDecoder()
    out = []
    for p in wire:
        if p is not a and p is not b:
            out.extend(decoder.feed(p, now=0.0))
    assert a.sequence_number not in {p.sequence_number for p in out}
    # The NACK answer for ``a`` arrives: the parity now rebuilds ``b``.
    more = decoder.feed(a, now=0.5)
    assert [p.sequence_number for p in more] == [a.sequence_number, b.sequence_number]
    assert _same(more[1], b)
    # A group kept too long is forgotten rather than matched against much later packets.
    late = ParityDecoder()
    for p in wire:
        if p is not a and p is not b:
            late.feed(p, now=0.0)
    assert late.feed(a, now=ParityDecoder.KEEP_GROUP_S + 1) == [a]


def test_malformed_parity_is_dropped_not_decoded() -> None:
    decoder = ParityDecoder()
    junk = RtpPacket(payload_type=97, sequence_number=1, ssrc=99, payload=b"YQP\x01\x00")
    assert decoder.feed(junk, now=0.0) == []
    vp8 = RtpPacket(payload_type=97, sequence_number=2, ssrc=SSRC, payload=b"\x90\x80\x01abc")
    assert decoder.feed(vp8, now=0.0) == [vp8]


def test_playout_with_parity_follows_late_frames_not_the_round_trip() -> None:
    from app.media.receive import MAX_REPAIRED_AHEAD_DELAY_S, PlayoutClock

    def run(
        repaired_ahead: bool, parity_late: float = 0.12, parity_every: int = 40
    ) -> tuple[float, int]:
        clock = PlayoutClock()
        clock.delay_s = 0.03 if repaired_ahead else 0.3  # the session's rule for each case
        clock.repaired_ahead = repaired_ahead
        clock.repairs = repairs = {}
        shown = []
        for n in range(900):  # 60 s at 15 fps
            late = 0.0
            if n % parity_every == 3:
                late = parity_late  # rebuilt from parity frames on
                repairs[n * 6000] = "parity"
            if n % 75 == 40:
                late = 0.4  # a group with two losses: a NACK round trip
                repairs[n * 6000] = "resent"
            shown.append(clock.due(n * 6000, 100.0 + n / 15 + late))
        gaps = [b - a for a, b in zip(shown[200:], shown[201:], strict=False)]
        freezes = sum(g > 1 / 15 + 0.15 for g in gaps)
        return clock.delay(), freezes

    resent_after_warmup = len([n for n in range(200, 900) if n % 75 == 40])
    delay, freezes = run(repaired_ahead=True)
    assert delay <= MAX_REPAIRED_AHEAD_DELAY_S and delay < 0.15
    assert freezes == resent_after_warmup  # only the frames that waited for a retransmission
    # Frames rebuilt three frames on, one every 12 s (~1 % of them): under a percentile,
    # or with a 10 s memory, each was a freeze.
    delay, freezes = run(repaired_ahead=True, parity_late=0.25, parity_every=180)
    assert 0.12 <= delay < 0.2 and freezes == resent_after_warmup
    # A frame rebuilt during a passing queue: what the repair added is remembered, not the
    # queue (the picture was held at queue + repair for a minute).
    clock = PlayoutClock()
    clock.delay_s, clock.repaired_ahead, clock.repairs = 0.03, True, {110 * 6000: "parity"}
    for n in range(600):
        queue = 0.2 if 100 <= n < 130 else 0.0
        clock.due(n * 6000, 100.0 + n / 15 + queue + (0.12 if n == 110 else 0.0))
    assert clock.delay() < 0.05  # 0.12 − 0.1 on a clean path, not 0.32 − 0.1
    # A frame 2 s late (a stall) is a freeze whatever the delay: it does not hold the rest.
    delay, freezes = run(repaired_ahead=True, parity_late=2.0)
    assert delay < 0.15
    old_delay, old_freezes = run(repaired_ahead=False)
    assert old_delay >= 0.3 and old_freezes == 0  # the round-trip rule: no freeze, late picture


def test_parity_goes_only_to_a_peer_that_said_it_repairs_from_it() -> None:
    from app.media.engine import MediaConfig
    from app.protocol.datachannel import MediaRepair, encode_message
    from tests.media.parity_receiver import idle_session

    async def check() -> None:
        ours = idle_session(MediaConfig())
        assert ours.messaging.repairs_offered == MediaRepair(
            id=ours.messaging.repairs_offered.id,
            sent_at=ours.messaging.repairs_offered.sent_at,
            video_parity=True,
            parity_version=2,  # also the second parity (test_second_parity.py)
        )
        control = ours.adaptation.control
        assert not control.video_parity  # nothing heard yet: a stock peer or Chrome
        ours.messaging.on_data(encode_message(MediaRepair(video_parity=True)))
        assert control.video_parity
        stock = idle_session(MediaConfig(lowband=False))
        assert stock.messaging.repairs_offered is None

    asyncio.run(check())


def test_a_lossy_call_between_our_peers_repairs_video_from_parity() -> None:
    """Two real low-band sessions through the UDP emulator at 8 % loss: B rebuilds lost
    video packets from A's parity (and says so), and frames keep arriving. At 160×120@10,
    link c's sizes, where parity goes per pair of frames (before, none below 12 fps)."""
    from app.media.engine import MediaConfig
    from app.media.loopback import use_loopback_candidates
    from tests.linkemu.profile import LinkProfile
    from tests.linkemu.udp import UdpLinkEmulator
    from tests.media.lossy_call import frames_shown, poll_call, video_buffer
    from tests.support.memory_signaling import SignalingPair

    use_loopback_candidates()

    async def call() -> tuple[int, int, str]:
        with UdpLinkEmulator(LinkProfile(latency_ms=30, loss=0.08, seed=5)) as emu:
            pair = SignalingPair(delay_s=0.02)
            config = MediaConfig(start_rung=rung_index("160x120@10"), sdp_rewriter=emu.rewrite_sdp)
            a, b = pair.sessions_for(config, fps=10)
            await pair.start()

            rungs: set[str] = set()

            def repaired() -> bool:
                buf = video_buffer(b)
                return buf is not None and buf.parity.recovered >= 1 and frames_shown(b) >= 20

            await poll_call(repaired, lambda: rungs.add(a.stats.rung))
            buf = video_buffer(b)
            result = (
                buf.parity.recovered if buf else 0,
                frames_shown(b),
                f"parity packets {buf.parity.parities if buf else None}, A's rungs {rungs}, "
                f"A sends parity: {a.adaptation.control.sends_parity}",
            )
            await a.close()
            await b.close()
            return result

    recovered, shown, seen = asyncio.run(call())
    assert recovered >= 1, f"no lost video packet was rebuilt from parity ({seen})"
    assert shown >= 20, seen


def test_parity_groups_follow_the_frame_rate_and_go_only_while_the_link_loses_packets() -> None:
    from types import SimpleNamespace

    from app.media.adaptation import CallAdaptation
    from app.media.ladder import START_RUNG
    from app.media.messaging import CallMessaging
    from app.media.video_parity import PAIR_GROUPS, WIDE_GROUPS

    adaptation = CallAdaptation(
        lowband=True,
        start_rung=START_RUNG,
        audio_only=False,
        messaging=CallMessaging("", lambda _m: None, lambda _r: None),
        pause_reason=lambda: "low_bandwidth",
    )
    control = adaptation.control
    control.video_parity = True  # the far end said it repairs from parity
    gen = SimpleNamespace(video_out=SimpleNamespace(rung=None, paused=False))
    adaptation.apply_rung(gen, rung_index("160x120@9"))  # type: ignore[arg-type]
    # A 4-frame group at 9 fps spans 0.45 s, no faster than a NACK on link c: pairs there
    # (base frames alone when the frames carry temporal layers), and layers on.
    assert control.sends_parity and control.parity_grouping == PAIR_GROUPS
    assert control.temporal_layers
    adaptation.apply_rung(gen, rung_index("320x240@15"))  # type: ignore[arg-type]
    assert control.parity_grouping == WIDE_GROUPS  # link b's groups, unchanged
    assert control.temporal_layers  # a lossy link: a lost upper frame is passed over
    adaptation.choose_audio_redundancy(100.0, 0.03)
    assert control.sends_parity
    adaptation.choose_audio_redundancy(110.0, 0.0)
    assert control.sends_parity  # not yet 20 s without loss
    adaptation.choose_audio_redundancy(131.0, 0.0)
    assert not control.sends_parity  # a clean link: parity would only cost bits
    adaptation.apply_rung(gen, rung_index("320x240@15"))  # type: ignore[arg-type]
    assert not control.temporal_layers  # nor layers, at 12 fps and more (link a)
    adaptation.choose_audio_redundancy(132.0, 0.02)
    assert control.sends_parity


def test_pairs_of_small_frames_repair_each_single_loss_one_frame_later() -> None:
    """At 160×120 every frame is one packet: with a parity per two frames, any one lost
    frame of a pair is back when the pair's parity arrives, one frame interval later (a
    NACK on link c takes 0.6 s and more: a freeze at 8 fps)."""
    from app.media.video_parity import PAIR_GROUPS

    rnd = random.Random(3)
    frames = [
        [
            RtpPacket(
                payload_type=97,
                marker=1,
                sequence_number=n,
                timestamp=n * 11_250,
                ssrc=SSRC,
                payload=rnd.randbytes(rnd.randint(200, 700)),
            )
        ]
        for n in range(40)
    ]
    encoder, wire = ParityEncoder(PAIR_GROUPS), []
    for n, packets in enumerate(frames):
        wire += [(n, p) for p in packets]
        wire += [
            (n, RtpPacket(payload_type=97, sequence_number=1000 + n, ssrc=99, payload=x))
            for x in encoder.add_frame(packets)
        ]
    lost = set(range(0, 40, 3))  # every third frame: one loss in every pair it touches
    decoder, back_at = ParityDecoder(), {}
    for n, p in wire:
        if p.sequence_number in lost and not is_parity(p.payload):
            continue
        for out in decoder.feed(p, now=n / 8):
            back_at.setdefault(out.sequence_number, n)
    assert set(back_at) == set(range(40))
    assert max(back_at[s] - s for s in lost) <= 1
    assert 0.4 < encoder.overhead() < 1.0  # the price: about half the video bitrate


def test_a_retransmission_sent_over_rtx_unlocks_a_group_with_two_losses() -> None:
    """aiortc unwraps RTX after any RTP filter: the parity decoder must see the
    retransmitted packet as itself, or the group's second loss is never rebuilt and the
    frame waits for a retransmission of its own (or the hole deadline)."""
    from app.media.video_parity import WIDE_GROUPS
    from tests.media.parity_receiver import parity_wire, receive, vp8_frames

    frames = vp8_frames(12)
    wire = parity_wire(frames, WIDE_GROUPS)
    media = [p for p in wire if not is_parity(p.payload)]
    groups = [parse_parity(p, 0.0) for p in wire if is_parity(p.payload)]
    group = next(g for g in groups[1:] if g.count >= 2)  # not the keyframe's first group
    lost = [p for p in media if p.sequence_number in group.sequence_numbers[:2]]

    buffer, decoded = asyncio.run(receive(wire, lost, lost[:1], len(frames)))
    recovered = buffer.parity.recovered  # type: ignore[attr-defined]
    assert recovered == 1, "the second loss was not rebuilt after the first was retransmitted"
    assert decoded == len(frames) - 1 and buffer.holes_skipped == 0  # type: ignore[attr-defined]


def test_frames_held_behind_a_retransmission_count_as_resent_for_the_playout_delay() -> None:
    """The frames released with a NACK's answer waited for it too; taken for a late path they
    held every frame at the delay's cap for 10 s (link b: ~260 ms instead of ~60)."""
    from tests.media.parity_receiver import receive, vp8_frames

    frames = vp8_frames(8)
    wire = [p for packets in frames for p in packets]
    lost = [frames[3][0]]  # the first packet of frame 3; frames 4-7 arrive whole behind it
    buffer, decoded = asyncio.run(receive(wire, lost, lost, len(frames)))
    assert decoded >= len(frames) - 1
    repaired = buffer.repaired  # type: ignore[attr-defined]
    assert sorted(repaired.values()) == ["resent"] * (len(frames) - 3)  # frames 3 to 7
