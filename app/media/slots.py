"""Latest-frame-wins hand-over from the media thread to whoever displays frames.

The media path never queues frames for display: the producer overwrites one slot, the GUI
(or a test) takes the newest frame when it is ready to paint. A slow GUI therefore shows
fewer frames, never older ones (aiortc issues #64/#104: latency from unbounded queues).

The producer converts the frame to RGB itself, with the slot's own converter, before the
frame goes anywhere else; the GUI only ever gets numpy data. Handing the PyAV frame over
and converting it on the GUI thread froze the app (see ``app.media.frames``). When nobody
has taken a frame for ``idle_after_s`` (the window is closed, a benchmark), frames are
counted but not converted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from av import VideoFrame

from app.media.frames import FrameConverter


@dataclass
class DisplayFrame:
    """An RGB image ready to paint, with its sequence number and arrival time."""

    rgb: np.ndarray
    seq: int
    arrived: float


class LatestFrameSlot:
    """One-frame slot; ``offer_*`` from the media thread, ``take_newer`` from the GUI."""

    def __init__(self, max_width: int = 0, idle_after_s: float = 2.0) -> None:
        self._lock = threading.Lock()
        self._frame: DisplayFrame | None = None
        self._seq = 0
        self._converter = FrameConverter()  # used by the offering thread only
        self._taken_at = time.monotonic()  # a new slot counts as watched
        self.idle_after_s = idle_after_s
        self.max_width = max_width  # 0: keep full size (preview may be scaled down)

    @property
    def watched(self) -> bool:
        """Someone took a frame recently (otherwise conversion is skipped)."""
        return time.monotonic() - self._taken_at < self.idle_after_s

    def offer_video(self, frame: VideoFrame) -> None:
        """Keep ``frame`` as RGB (converted here, on the offering thread)."""
        if not self.watched:
            with self._lock:
                self._seq += 1
            return
        self.offer_rgb(self._converter.rgb(frame, self.max_width))

    def offer_rgb(self, rgb: np.ndarray) -> None:
        """Keep an already converted RGB frame."""
        with self._lock:
            self._seq += 1
            self._frame = DisplayFrame(rgb, self._seq, time.monotonic())

    def take_newer(self, than_seq: int) -> DisplayFrame | None:
        """The newest converted frame if it is newer than ``than_seq`` (no conversion here)."""
        self._taken_at = time.monotonic()
        with self._lock:
            frame = self._frame
        if frame is None or frame.seq <= than_seq:
            return None
        return frame

    def clear(self) -> None:
        """Forget the last frame (video stopped)."""
        with self._lock:
            self._frame = None
            self._seq += 1
