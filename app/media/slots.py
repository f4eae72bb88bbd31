"""Latest-frame-wins hand-over from the media thread to whoever displays frames.

The media path never queues frames for display: the producer overwrites one slot, the GUI
(or a test) takes the newest frame when it is ready to paint. A slow GUI therefore shows
fewer frames, never older ones (aiortc issues #64/#104: latency from unbounded queues).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from av import VideoFrame


@dataclass
class DisplayFrame:
    """An RGB image ready to paint, with its sequence number and arrival time."""

    rgb: np.ndarray
    seq: int
    arrived: float


class LatestFrameSlot:
    """One-frame slot; ``offer_*`` from the media thread, ``take_newer`` from the GUI."""

    def __init__(self, max_width: int = 0) -> None:
        self._lock = threading.Lock()
        self._frame: DisplayFrame | None = None
        self._pending: VideoFrame | None = None
        self._seq = 0
        self.max_width = max_width  # 0: keep full size (preview may be scaled down)

    def offer_video(self, frame: VideoFrame) -> None:
        """Keep ``frame`` (converted lazily, only if someone takes it)."""
        with self._lock:
            self._pending = frame
            self._seq += 1

    def offer_rgb(self, rgb: np.ndarray) -> None:
        """Keep an already converted RGB frame."""
        with self._lock:
            self._seq += 1
            self._pending = None
            self._frame = DisplayFrame(rgb, self._seq, time.monotonic())

    def take_newer(self, than_seq: int) -> DisplayFrame | None:
        """The newest frame if it is newer than ``than_seq``; converts at most one frame."""
        with self._lock:
            pending, seq = self._pending, self._seq
            if seq <= than_seq:
                return None
            if pending is None:
                return self._frame
        width = pending.width
        if self.max_width and width > self.max_width:
            height = int(pending.height * self.max_width / width) // 2 * 2
            rgb = pending.to_ndarray(format="rgb24", width=self.max_width, height=height)
        else:
            rgb = pending.to_ndarray(format="rgb24")
        frame = DisplayFrame(rgb, seq, time.monotonic())
        with self._lock:
            if self._seq == seq:
                self._frame, self._pending = frame, None
        return frame

    def clear(self) -> None:
        """Forget the last frame (video stopped)."""
        with self._lock:
            self._frame, self._pending = None, None
            self._seq += 1
