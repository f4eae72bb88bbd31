"""When each sample of an outgoing audio stream was captured, for RTCP sender reports.

A sender report pairs an NTP time with the RTP timestamp of the sample captured at that
instant; the far end's lip sync (ours and Chrome's) maps every frame to the sender's clock
through it. aiortc pairs the last *sent* packet's first sample with its send time, which puts
audio 20–40 ms (more under load) later than it was captured (``bench/sender_report_bias.py``).

A source hands frames out at a steady pace, so "arrival at the encoder − first sample's
position / rate" is the stream's start time plus whatever delay that frame met on the way
(event loop, executor). The smallest of those over the last second is the start time with
the least delay: scheduling jitter only ever adds, so the minimum is robust under CPU load,
and a short window follows a source that restarts its clock after a stall. Sources hand a
frame out when its first sample is due (the tone) — a microphone hands it out when full,
one device buffer later, which this leaves as a bias of that buffer (10–20 ms).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

WINDOW_FRAMES = 50  # ~1 s of 20 ms frames


class SampleClock:
    """Maps a monotonic instant to the sample index being captured then."""

    def __init__(
        self, rate: int, window: int = WINDOW_FRAMES, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self._now = now
        self._starts: collections.deque[float] = collections.deque(maxlen=window)
        # frame_arrived runs in the encoder's executor thread, sample_at on the event loop.
        self._lock = threading.Lock()

    def frame_arrived(self, first_sample: int) -> None:
        """A frame whose first sample has index ``first_sample`` reached the encoder now."""
        start = self._now() - first_sample / self.rate
        with self._lock:
            self._starts.append(start)

    def sample_at(self, t: float) -> int | None:
        """The index of the sample captured at monotonic time ``t`` (None before any frame)."""
        with self._lock:
            if not self._starts:
                return None
            start = min(self._starts)
        return round((t - start) * self.rate)
