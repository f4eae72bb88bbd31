"""The second video parity Q (app.media.video_parity): with P and Q any two losses of a
group come back without a round trip, byte for byte; three do not, and nothing wrong is
handed on; Q goes only to a peer that said it decodes it; a real lossy call rebuilds
two-loss groups from it."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from types import SimpleNamespace
from typing import Literal

from aiortc.rtp import RtpPacket
from pydantic import BaseModel, ConfigDict

from app.media.ladder import rung_index
from app.media.video_parity import (
    MAGIC,
    WIDE_GROUPS,
    WIDE_PQ_GROUPS,
    ParityDecoder,
    ParityEncoder,
    is_parity,
    parity_payloads,
    parse_parity,
)

SSRC = 0x0BAD_CAFE


def _group(n: int, seed: int, first: int = 65_533) -> list[RtpPacket]:
    """``n`` consecutive packets (across the sequence wrap) of varied lengths (one empty,
    one of 1 byte when there is room), markers and timestamps."""
    rnd = random.Random(seed)
    sizes = [rnd.randint(20, 1200) for _ in range(n)]
    if n >= 3:
        sizes[rnd.randrange(n)] = 0
        sizes[rnd.randrange(n)] = 1
    return [
        RtpPacket(
            payload_type=97,
            marker=rnd.randint(0, 1),
            sequence_number=(first + i) & 0xFFFF,
            timestamp=rnd.getrandbits(32),
            ssrc=SSRC,
            payload=rnd.randbytes(size),
        )
        for i, size in enumerate(sizes)
    ]


def _wire(group: list[RtpPacket]) -> list[RtpPacket]:
    p, q = parity_payloads(group, second=True)
    return [
        *group,
        RtpPacket(payload_type=97, sequence_number=10, ssrc=99, timestamp=1, payload=p),
        RtpPacket(payload_type=97, sequence_number=11, ssrc=99, timestamp=1, payload=q),
    ]


def _one_packet_frame(n: int, payload: bytes) -> list[RtpPacket]:
    """Frame ``n`` at 15 fps as one marked packet."""
    return [
        RtpPacket(
            payload_type=97,
            marker=1,
            sequence_number=n,
            timestamp=n * 6000,
            ssrc=SSRC,
            payload=payload,
        )
    ]


def _key(p: RtpPacket) -> tuple:
    return (p.sequence_number, p.timestamp, p.marker, p.payload, p.ssrc, p.payload_type)


def _receive(wire: list[RtpPacket], lost: set[int], order: list[int] | None = None):
    decoder, out = ParityDecoder(), []
    for i in order or range(len(wire)):
        if i not in lost:
            out.extend(decoder.feed(wire[i], now=0.0))
    return decoder, out


def test_any_two_losses_in_groups_of_one_to_eight_are_rebuilt_byte_for_byte() -> None:
    for n in range(1, 9):
        group = _group(n, seed=n)
        wire = _wire(group)
        expected = {_key(p) for p in group}
        for lost in itertools.combinations(range(n + 2), 2):
            # Q before P too (the link may reorder them).
            orders = [list(range(n + 2)), [*range(n), n + 1, n]]
            for order in orders:
                decoder, out = _receive(wire, set(lost), order)
                media = [_key(p) for p in out if not is_parity(p.payload)]
                assert len(out) == len(media) == n, (n, lost)  # no parity reaches the codec
                assert set(media) == expected, (n, lost, order)
                assert decoder.pending_groups == 0  # all there: the group is forgotten
                lost_media = [i for i in lost if i < n]
                assert decoder.recovered == len(lost_media)


def test_a_lost_p_and_one_lost_packet_are_rebuilt_from_q() -> None:
    group = _group(6, seed=11)
    wire = _wire(group)
    decoder, out = _receive(wire, {2, 6})  # the third packet and P
    assert {_key(p) for p in out} == {_key(p) for p in group}
    assert decoder.recovered == decoder.recovered_with_q == 1


def test_three_losses_are_not_rebuilt_nothing_wrong_comes_out_and_a_retransmission_unlocks() -> (
    None
):
    group = _group(6, seed=21)
    wire = _wire(group)
    originals = {_key(p) for p in group}
    for lost in itertools.combinations(range(8), 3):
        decoder, out = _receive(wire, set(lost))
        assert {_key(p) for p in out} <= originals  # only what was sent
        lost_media = [i for i in lost if i < 6]
        # m media lost leave m - 1 parity packets of the two: never enough.
        assert len(out) == 6 - len(lost_media) and decoder.recovered == 0
        if len(lost_media) == 3:
            # The NACK's answer for one of them: the other two come back from P and Q, and
            # a late copy of a rebuilt one counts nothing twice and changes nothing.
            more = decoder.feed(group[lost_media[0]], now=0.5)
            assert {_key(p) for p in more} == {_key(group[i]) for i in lost_media}
            assert decoder.recovered == 2 and decoder.pending_groups == 0
            again = decoder.feed(group[lost_media[1]], now=0.6)
            assert [_key(p) for p in again] == [_key(group[lost_media[1]])]
            assert decoder.recovered == 2


def test_a_version_one_decoder_drops_q_packets_it_is_never_sent() -> None:
    """Defence behind the negotiation: a Q packet reads as a P packet of count 0, which
    the first decoders dropped as malformed (``parse_parity`` before Q: count 0 → None)."""
    group = _group(4, seed=5)
    _p, q = parity_payloads(group, second=True)
    assert q[:4] == MAGIC and q[10] == 0  # where a version-1 decoder reads the count
    assert is_parity(q)


def test_malformed_second_parity_is_ignored_without_an_exception() -> None:
    group = _group(5, seed=31)
    p, q = parity_payloads(group, second=True)
    rnd = random.Random(4)
    junk = [
        q[:18],  # shorter than a header and its coded fields
        q[:10] + b"\x00\x00" + q[12:],  # count 0 in both places
        q[:11] + b"\xff" + q[12:],  # a count far past the group
        q[:11] + b"\x04" + q[12:],  # one short of the group
        q[:12] + rnd.randbytes(len(q) - 12),  # garbage coded bytes
        q[:12] + rnd.randbytes(5),  # garbage, too short for the packets
        q[:12] + bytes(len(q) - 12),  # zeros
        MAGIC + rnd.randbytes(40),
    ]
    originals = {_key(x) for x in group}
    for bad in junk:
        # One media packet and P lost: only the (bad) Q could rebuild it.
        decoder, out = ParityDecoder(), []
        for x in group[1:]:
            out += decoder.feed(x, now=0.0)
        bad_q = RtpPacket(payload_type=97, sequence_number=3, ssrc=99, payload=bad)
        out += decoder.feed(bad_q, now=0.0)
        assert {_key(x) for x in out} <= originals, bad[:16]
        # The good P afterwards still rebuilds it.
        good_p = RtpPacket(payload_type=97, sequence_number=4, ssrc=99, payload=p)
        out += decoder.feed(good_p, now=0.0)
        assert {_key(x) for x in out} == originals


def test_the_encoder_counts_q_in_its_overhead_and_undecodable_groups_are_bounded() -> None:
    rnd = random.Random(8)
    frames = [_one_packet_frame(n, rnd.randbytes(900)) for n in range(3000)]
    p_only, with_q = ParityEncoder(WIDE_GROUPS), ParityEncoder(WIDE_PQ_GROUPS)
    wire = []
    for packets in frames:
        p_only.add_frame(packets)
        wire += [(p, False) for p in packets]
        wire += [
            (RtpPacket(payload_type=97, sequence_number=0, ssrc=99, payload=x), True)
            for x in with_q.add_frame(packets)
        ]
    assert with_q.second_parities > 0
    assert with_q.parity_bytes > 1.3 * p_only.parity_bytes  # Q is counted
    # One-packet frames: 2 of 3 in P+Q's 3-frame groups, 1 of 4 in P's.
    assert 0.6 < with_q.overhead() < 0.75 and 0.2 < p_only.overhead() < 0.3
    # Every group loses three packets and no retransmission comes: what is kept stays
    # bounded, and groups are forgotten as they age.
    decoder = ParityDecoder()
    for i, (packet, parity) in enumerate(wire):
        if parity or packet.sequence_number % 7 not in (1, 2, 3):
            decoder.feed(packet, now=i * 0.0001)
    assert decoder.pending_groups <= ParityDecoder.KEEP_GROUPS
    assert len(decoder._packets) <= ParityDecoder.KEEP_PACKETS
    decoder.feed(frames[0][0], now=100.0)
    assert decoder.pending_groups == 0


class _Channel:
    readyState = "open"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str) -> None:
        self.sent.append(text)


class _FirstVersionRepair(BaseModel):
    """``media.repair`` as the first parity clients parse it (unknown fields forbidden)."""

    model_config = ConfigDict(extra="forbid")
    v: Literal[1] = 1
    id: str
    sent_at: float
    type: Literal["media.repair"]
    video_parity: bool = False


def test_q_goes_only_to_a_peer_whose_media_repair_says_it_decodes_it() -> None:
    from app.media.engine import MediaConfig
    from app.media.lowband import ParitySender
    from app.media.video_parity import PARITY_VERSION
    from tests.media.parity_receiver import idle_session

    async def check() -> None:
        ours = idle_session(MediaConfig(q_peer_wide_groups=WIDE_PQ_GROUPS))
        # What we offer: a first-version client reads the first message (and sends us P),
        # a new one reads both.
        channel = _Channel()
        ours.messaging.on_open(channel)
        assert len(channel.sent) == 2
        old_view = _FirstVersionRepair.model_validate_json(channel.sent[0])
        assert old_view.video_parity
        assert json.loads(channel.sent[1])["parity_version"] == PARITY_VERSION == 2

        control = ours.adaptation.control
        control.parity_grouping = WIDE_GROUPS  # a rung of 12 fps and more
        # An old peer's offer: no parity_version field.
        old = {"v": 1, "type": "media.repair", "id": "x", "sent_at": 1.0, "video_parity": True}
        ours.messaging.on_data(json.dumps(old))
        assert control.sends_parity and not control.video_parity_q
        assert control.sending_grouping() == WIDE_GROUPS
        sent = await _parity_sent(ParitySender(_Sender(), control))
        assert sent and not any(parse_parity(p, 0.0).second for p in sent)  # type: ignore[union-attr]

        ours.messaging.on_data(json.dumps({**old, "parity_version": 2}))
        assert control.video_parity_q and control.sending_grouping() == WIDE_PQ_GROUPS
        sent = await _parity_sent(ParitySender(_Sender(), control))
        assert any(parse_parity(p, 0.0).second for p in sent)  # type: ignore[union-attr]

    asyncio.run(check())


class _Sender:
    """What ``aiortc_adapter.send_rtp`` asks of an aiortc sender: its extension map and a
    transport; the packets land in a list."""

    def __init__(self) -> None:
        from aiortc.rtp import HeaderExtensionsMap

        self._RTCRtpSender__rtp_header_extensions_map = HeaderExtensionsMap()
        self.packets: list[bytes] = []

        async def send(data: bytes) -> None:
            self.packets.append(data)

        self.transport = SimpleNamespace(_send_rtp=send)


async def _parity_sent(sender) -> list[RtpPacket]:
    """The parity packets ``sender`` (a ParitySender) sends for 40 one-packet frames."""
    for n in range(40):
        await sender(_one_packet_frame(n, bytes([0x10, 0, 0]) + bytes(600)))
    return [RtpPacket.parse(data) for data in sender.sender.packets]


def test_a_real_receiver_decodes_every_frame_of_a_group_that_lost_two_packets() -> None:
    """Real VP8 frames through aiortc's receiver with our buffer: two packets of one group
    lost and never retransmitted come back from P and Q, every frame decodes and no hole
    is left for a NACK; with three lost, the NACK's answer for one brings the other two."""
    from app.media import aiortc_adapter as adapter
    from tests.media.parity_receiver import parity_wire, receive, vp8_frames

    frames = vp8_frames(14)
    wire = parity_wire(frames, WIDE_PQ_GROUPS)
    groups = [g for g in (parse_parity(p, 0.0) for p in wire if is_parity(p.payload)) if g]
    assert any(g.second for g in groups)
    group = next(g for g in groups[2:] if g.count >= 3)  # not the keyframe's first groups
    media = {p.sequence_number: p for p in wire if not is_parity(p.payload)}
    seqs = group.sequence_numbers

    two = [media[seqs[0]], media[seqs[-1]]]
    buffer, decoded = asyncio.run(receive(wire, two, [], len(frames)))
    parity = buffer.parity  # type: ignore[attr-defined]
    assert parity.two_rebuilt == 1 and parity.recovered == 2
    assert decoded == len(frames) - 1 and buffer.holes_skipped == 0  # type: ignore[attr-defined]
    assert not (adapter.nack_missing(buffer._receiver) or set()) & set(seqs)  # type: ignore[attr-defined]

    three = [media[s] for s in seqs[:3]]
    buffer, decoded = asyncio.run(receive(wire, three, three[1:2], len(frames)))
    parity = buffer.parity  # type: ignore[attr-defined]
    assert parity.two_rebuilt == 1 and parity.recovered == 2
    assert decoded == len(frames) - 1 and buffer.holes_skipped == 0  # type: ignore[attr-defined]


def test_a_lossy_call_between_our_peers_rebuilds_two_loss_groups_from_p_and_q() -> None:
    """Two real low-band sessions through the UDP emulator at 8 % loss, at 15 fps with the
    P+Q grouping: B rebuilds groups that lost two packets at the parity's arrival (before
    any NACK could be answered: a packet rebuilt is one no retransmission brought), and
    frames keep arriving."""
    from app.media.engine import MediaConfig
    from app.media.loopback import use_loopback_candidates
    from tests.linkemu.profile import LinkProfile
    from tests.linkemu.udp import UdpLinkEmulator
    from tests.media.lossy_call import frames_shown, poll_call, video_buffer
    from tests.support.memory_signaling import SignalingPair

    use_loopback_candidates()

    async def call() -> tuple[int, int, str]:
        with UdpLinkEmulator(LinkProfile(latency_ms=30, loss=0.08, seed=9)) as emu:
            pair = SignalingPair(delay_s=0.02)
            config = MediaConfig(
                start_rung=rung_index("320x240@12"),
                sdp_rewriter=emu.rewrite_sdp,
                q_peer_wide_groups=WIDE_PQ_GROUPS,
            )
            a, b = pair.sessions_for(config, fps=15)
            # A link measured before (the loopback carries far more): the ladder starts
            # where it would settle instead of climbing from 90 kbit/s through 10 fps rungs.
            a.adaptation.ladder.estimate = 300_000
            await pair.start()
            groupings = set()

            def two_rebuilt() -> bool:
                buf = video_buffer(b)
                return buf is not None and buf.parity.two_rebuilt >= 1 and frames_shown(b) >= 20

            await poll_call(
                two_rebuilt, lambda: groupings.add(a.adaptation.control.sending_grouping())
            )
            buf = video_buffer(b)
            parity = buf.parity if buf else None
            result = (
                parity.two_rebuilt if parity else 0,
                frames_shown(b),
                f"parity packets {parity.parities if parity else None} "
                f"(Q {parity.second_parities if parity else None}), "
                f"recovered {parity.recovered if parity else None}, "
                f"A's groupings {groupings}, A sends parity: {a.adaptation.control.sends_parity}",
            )
            await a.close()
            await b.close()
            return result

    two, shown, seen = asyncio.run(call())
    assert two >= 1, f"no group with two losses was rebuilt from P and Q ({seen})"
    assert shown >= 20, seen
