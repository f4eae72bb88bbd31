"""Low-band Opus packets made and received offline (audio recovery tests, bench/audio_loss.py)."""

from __future__ import annotations

import fractions
from collections.abc import Container

import numpy as np
from aiortc.rtp import RtpPacket
from av import AudioFrame

from app.media.audio_receive import RecoveringAudioBuffer
from app.media.lowband import LowbandOpusEncoder, SendControl

RATE = 48_000


def encode_packets(samples: np.ndarray, control: SendControl) -> list[tuple[int, bytes]]:
    """(RTP timestamp, payload) per packet, as the low-band sender makes them from mono
    s16 samples at 48 kHz (whole 20 ms frames)."""
    encoder = LowbandOpusEncoder(control)
    out: list[tuple[int, bytes]] = []
    for i in range(0, samples.size - 960 + 1, 960):
        frame = AudioFrame.from_ndarray(
            samples[i : i + 960].reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate, frame.pts, frame.time_base = RATE, i, fractions.Fraction(1, RATE)
        payloads, ts = encoder.encode(frame)
        out += [(ts, p) for p in payloads]
    return out


def receive_packets(
    packets: list[tuple[int, bytes]], lost: Container[int], **options: bool
) -> tuple[list[AudioFrame], RecoveringAudioBuffer]:
    """Feed the packets not in ``lost`` (by index) to a ``RecoveringAudioBuffer``."""
    frames: list[AudioFrame] = []
    buffer = RecoveringAudioBuffer(frames.append, **options)
    for seq, (ts, payload) in enumerate(packets):
        if seq in lost:
            continue
        packet = RtpPacket(payload_type=111, sequence_number=seq & 0xFFFF, timestamp=ts)
        packet._data = payload  # type: ignore[attr-defined]
        buffer.add(packet)
    return frames, buffer
