"""Real VP8 frames on a parity-protected wire into a real aiortc receiver with our video
buffer (video-parity tests): what was rebuilt and decoded, without a network."""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import TYPE_CHECKING

from aiortc.rtp import RtpPacket, wrap_rtx

from app.media.video_parity import Grouping, ParityEncoder

if TYPE_CHECKING:
    from app.media.engine import MediaConfig, MediaSession

MEDIA_SSRC, RTX_SSRC = 1111, 2222


def vp8_frames(count: int = 12, first_seq: int = 100) -> list[list[RtpPacket]]:
    """``count`` frames of our low-band VP8 encoder (a keyframe, then deltas) as packets."""
    from av import VideoFrame

    from app.media.lowband import LowbandVp8Encoder, SendControl
    from app.media.pattern import PatternPainter

    encoder = LowbandVp8Encoder(SendControl(video_bps=300_000))
    painter, frames, seq = PatternPainter(320, 240), [], first_seq
    for n in range(count):
        frame = VideoFrame.from_ndarray(painter.paint(n, n), format="rgb24")
        frame.pts, frame.time_base = n * 6000, fractions.Fraction(1, 90_000)
        payloads, timestamp = encoder.encode(frame)
        packets = []
        for i, payload in enumerate(payloads):
            packets.append(
                RtpPacket(
                    payload_type=97,
                    marker=int(i == len(payloads) - 1),
                    sequence_number=seq,
                    timestamp=timestamp,
                    ssrc=MEDIA_SSRC,
                    payload=payload,
                )
            )
            seq += 1
        frames.append(packets)
    return frames


def parity_wire(frames: list[list[RtpPacket]], grouping: Grouping) -> list[RtpPacket]:
    """What goes on the wire: each frame's packets, then any parity due."""
    encoder, wire, pseq = ParityEncoder(grouping), [], 0
    for packets in frames:
        wire.extend(packets)
        for payload in encoder.add_frame(packets):
            wire.append(RtpPacket(payload_type=97, sequence_number=pseq, ssrc=99, payload=payload))
            pseq += 1
    return wire


class _Transport:
    """What aiortc's receiver asks of its DTLS transport while it runs (RTCP goes nowhere)."""

    state = "connected"

    def _register_rtp_receiver(self, *_args: object) -> None:
        pass

    def _unregister_rtp_receiver(self, *_args: object) -> None:
        pass

    async def _send_rtp(self, _data: bytes) -> None:
        pass


async def receive(
    wire: list[RtpPacket], lost: list[RtpPacket], retransmitted: list[RtpPacket], frames: int
) -> tuple[object, int]:
    """Hand ``wire`` less ``lost`` to a fresh receiver, then ``retransmitted`` over RTX as
    Chrome and aiortc send NACK answers; returns (its video buffer, frames decoded). aiortc's
    buffer hands a frame on when the next one starts: at most ``frames - 1`` decode."""
    from aiortc.rtcrtpparameters import (
        RTCRtpCodecParameters,
        RTCRtpDecodingParameters,
        RTCRtpReceiveParameters,
        RTCRtpRtxParameters,
    )
    from aiortc.rtcrtpreceiver import RemoteStreamTrack, RTCRtpReceiver

    from app.media import aiortc_adapter as adapter
    from app.media.lowband import install_receive_buffers

    receiver = RTCRtpReceiver("video", _Transport())
    receiver._track = RemoteStreamTrack(kind="video")
    install_receive_buffers(receiver, "video")
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=97)
    rtx = RTCRtpCodecParameters(
        mimeType="video/rtx", clockRate=90_000, payloadType=98, parameters={"apt": 97}
    )
    await receiver.receive(
        RTCRtpReceiveParameters(
            codecs=[vp8, rtx],
            encodings=[
                RTCRtpDecodingParameters(
                    ssrc=MEDIA_SSRC, payloadType=97, rtx=RTCRtpRtxParameters(ssrc=RTX_SSRC)
                )
            ],
        )
    )
    now_ms = 0
    for p in wire:
        if p not in lost:
            await receiver._handle_rtp_packet(p, arrival_time_ms=now_ms)
        now_ms += 10
    for n, p in enumerate(retransmitted):
        await receiver._handle_rtp_packet(
            wrap_rtx(p, payload_type=98, sequence_number=7 + n, ssrc=RTX_SSRC),
            arrival_time_ms=now_ms,
        )
    buffer = adapter.jitter_buffer(receiver)
    track = receiver._track
    decoded, deadline = 0, time.monotonic() + 20
    while decoded < frames - 1 and time.monotonic() < deadline:
        try:
            await asyncio.wait_for(track.recv(), timeout=5.0)
            decoded += 1
        except TimeoutError:
            break
    await receiver.stop()
    return buffer, decoded


def idle_session(config: MediaConfig) -> MediaSession:
    """A MediaSession with ``config`` that sends no signal and no media (not started)."""
    from app.media.engine import MediaSession

    async def ignore(*_args: object) -> None:
        return None

    return MediaSession(
        offerer=True, send_signal=ignore, video_source=None, audio_source=None, config=config
    )
