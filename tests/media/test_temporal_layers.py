"""Temporal layers (app.media.temporal_layers): a lost upper-layer frame is passed at once
(no wait for a retransmission, no keyframe request); a lost base frame is waited for."""

from __future__ import annotations

from aiortc.codecs.vpx import vp8_depayload
from aiortc.rtp import RtpPacket

from app.media.lowband import DeadlineVideoBuffer
from app.media.temporal_layers import (
    BASE_FLAGS,
    UPPER_FLAGS,
    TemporalLayers,
    decodable_after_loss,
    frame_layer,
    packetize,
)


def _frames(n: int) -> list[list[RtpPacket]]:
    """``n`` frames as a layered sender sends them (1 packet each, the first a keyframe;
    frame 4 is two packets)."""
    layers, seq, out = TemporalLayers(), 100, []
    for i in range(n):
        flags, layer = layers.next_frame(keyframe=i == 0)
        vp8 = bytes([0x00 if i == 0 else 0x01]) + bytes([i]) * (1500 if i == 4 else 50)
        payloads = packetize(vp8, picture_id=i, layer=layer)
        packets = []
        for k, payload in enumerate(payloads):
            p = RtpPacket(
                payload_type=96,
                sequence_number=seq,
                timestamp=i * 11_250,
                marker=int(k == len(payloads) - 1),
                payload=payload,
            )
            p._data = vp8_depayload(payload)  # type: ignore[attr-defined]  # as aiortc does
            packets.append(p)
            seq += 1
        out.append(packets)
    return out


def test_the_pattern_alternates_base_and_upper_frames_and_says_so() -> None:
    layers = TemporalLayers()
    seen = [layers.next_frame(keyframe=i in (0, 5)) for i in range(8)]
    assert [layer.tid for _, layer in seen] == [0, 1, 0, 1, 0, 0, 1, 0]  # a keyframe restarts
    assert [flags for flags, _ in seen][1:4] == [UPPER_FLAGS, BASE_FLAGS, UPPER_FLAGS]
    assert seen[0][0] == 0  # a keyframe refers to nothing
    frames = _frames(6)
    parsed = [frame_layer(f[0].payload) for f in frames]
    assert [(x.tid, x.keyframe) for x in parsed if x] == [
        (0, True),
        (1, False),
        (0, False),
        (1, False),
        (0, False),
        (1, False),
    ]
    assert frame_layer(frames[4][1].payload) is None  # not the frame's first packet
    assert frame_layer(b"\x10\x01\x02") is None  # a descriptor without layer fields
    base = parsed[2]
    assert base is not None and decodable_after_loss(parsed[4], base.tl0picidx)  # type: ignore[arg-type]
    assert not decodable_after_loss(parsed[5], base.tl0picidx)  # type: ignore[arg-type]


def _run(lost_frame: int) -> tuple[list[int], DeadlineVideoBuffer]:
    """Frames handed on (by index) when ``lost_frame`` never arrives; no time passes."""
    frames = _frames(9)
    buffer = DeadlineVideoBuffer(max_wait_s=10.0)  # a round trip would be far too long
    buffer.ask_again_after_s = 10.0
    handed: list[int] = []
    for i, packets in enumerate(frames):
        if i == lost_frame:
            continue
        for p in packets:
            pli, frame = buffer.add(p)
            assert not pli  # never a keyframe request for a frame nobody needs
            if frame is not None:
                handed.append(frame.timestamp // 11_250)
    return handed, buffer


def test_a_lost_upper_frame_is_passed_at_once_and_a_lost_base_frame_is_waited_for() -> None:
    handed, buffer = _run(lost_frame=3)  # upper layer
    # Every frame but the lost one, without waiting (each one at its marker).
    assert handed == [0, 1, 2, 4, 5, 6, 7, 8]
    assert buffer.upper_skipped == 1 and buffer.holes_skipped == 0
    late = _frames(9)[3][0]
    assert buffer.add(late) == (False, None)  # its retransmission comes too late: refused

    handed, buffer = _run(lost_frame=4)  # a base frame (two packets): later frames need it
    # Waits for parity or a retransmission (frame 3, whole at its marker, is not held).
    assert handed == [0, 1, 2, 3]
    assert buffer.upper_skipped == 0


def test_a_lossy_low_rate_call_passes_lost_upper_frames_without_waiting() -> None:
    """Two real low-band sessions through the UDP emulator at 10 % loss on the 160×120@9
    rung: A's libvpx sends two layers, and B passes lost upper-layer frames at once (no
    keyframe request, no wait for a retransmission) while frames keep arriving."""
    import asyncio
    import time

    import pytest

    from app.media import vpx_native
    from app.media.engine import MediaConfig
    from app.media.ladder import rung_index
    from app.media.loopback import use_loopback_candidates
    from tests.linkemu.profile import LinkProfile
    from tests.linkemu.udp import UdpLinkEmulator
    from tests.media.lossy_call import frames_shown, video_buffer
    from tests.support.memory_signaling import SignalingPair

    if vpx_native.load_libvpx() is None:
        pytest.skip("no libvpx the native encoder can drive: PyAV's encoder has no layers")
    use_loopback_candidates()

    async def call() -> tuple[int, int, int, str]:
        with UdpLinkEmulator(LinkProfile(latency_ms=30, loss=0.10, seed=11)) as emu:
            pair = SignalingPair(delay_s=0.02)
            rung = rung_index("160x120@9")
            config = MediaConfig(start_rung=rung, sdp_rewriter=emu.rewrite_sdp)
            a, b = pair.sessions_for(config, fps=9)
            await pair.start()

            deadline = time.monotonic() + 60  # generous: a loaded CI box is slow
            while time.monotonic() < deadline:
                buf = video_buffer(b)
                if buf is not None and buf.upper_skipped >= 1 and frames_shown(b) >= 20:
                    break
                await asyncio.sleep(0.2)
            buf = video_buffer(b)
            result = (
                buf.upper_skipped if buf else 0,
                buf.holes_skipped if buf else 0,
                frames_shown(b),
                f"A's rung {a.stats.rung}, layers {a.adaptation.control.temporal_layers}",
            )
            await a.close()
            await b.close()
            return result

    upper, _holes, shown, seen = asyncio.run(call())
    assert upper >= 1, f"no lost upper-layer frame was passed over ({seen})"
    assert shown >= 20, seen
