"""Synthetic media sources: a moving test pattern with a stamped frame counter, and a tone.

Used by tests and benchmarks, and on PCs without a camera or microphone, so a call (and the
test call) still works. Both are paced in real time like a capture device.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import numpy as np
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame, VideoFrame

from app.media.pattern import PatternPainter, now_ms

VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_SAMPLES = 960  # 20 ms


class SyntheticVideoTrack(MediaStreamTrack):
    """A test pattern at ``width``×``height`` and ``fps``; the counter is the frame number."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 15.0) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._painter = PatternPainter(width, height)
        self._start: float | None = None
        self.counter = 0

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.counter / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -1.0:
            # We fell behind (CPU starved): skip ahead instead of bursting old frames.
            self._start = time.monotonic() - self.counter / self.fps
        rgb = self._painter.paint(self.counter, now_ms())
        frame = VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = int(self.counter * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.counter += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A 440 Hz tone, mono s16 at 48 kHz in 20 ms frames (quiet pulses every second)."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, level: float = 0.2) -> None:
        super().__init__()
        self.frequency, self.level = frequency, level
        self._start: float | None = None
        self._samples = 0

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._samples / AUDIO_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -1.0:
            self._start = time.monotonic() - self._samples / AUDIO_RATE
        t = (self._samples + np.arange(AUDIO_SAMPLES)) / AUDIO_RATE
        envelope = 1.0 if int(t[0]) % 2 == 0 else 0.3
        wave = self.level * envelope * np.sin(2 * math.pi * self.frequency * t)
        samples = (wave * 32767).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._samples += AUDIO_SAMPLES
        return frame
