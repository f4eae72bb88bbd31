"""Converting PyAV video frames without sharing a converter between threads.

Why this module exists (the call freeze of issue 14): ``VideoFrame.reformat`` and
``to_ndarray(format=..., width=...)`` use a converter cached *on the frame object*
(``frame.reformatter``, one libswscale context). PyAV runs the scale with the GIL released,
and libswscale (FFmpeg 8, PyAV 18) gives that context its own pool of slice threads
(``threads=0``: one per CPU) and rebuilds it whenever the next call asks for other
parameters. The camera frame was handed to the GUI (preview, RGB 320 wide) and scaled for
the encoder (YUV at the rung's size) on the media thread *at the same time*: the GUI's call
saw new parameters and freed the slice-thread pool (``pthread_cond_destroy`` on the
condition variable) while the media thread was waiting on it inside
``avpriv_slicethread_execute`` — both threads blocked for good (the GUI frozen, SIGTERM's
Python handler never ran, the asyncio loop and so the call dead). Freed a moment earlier,
the same race is a use-after-free: the process dies from SIGSEGV without a word.

The rule: a frame is converted only by the thread that holds it, with a converter that
thread owns (``FrameConverter``), and single-threaded (slice threads buy nothing at these
sizes and cost a thread pool per context). A frame handed to another thread is either a
fresh frame nobody else references or plain numpy data.
"""

from __future__ import annotations

import numpy as np
from av import VideoFrame
from av.video.reformatter import VideoReformatter


class FrameConverter:
    """A converter owned by one thread (never share an instance between threads)."""

    def __init__(self) -> None:
        self._reformatter = VideoReformatter()

    def scaled(
        self, frame: VideoFrame, width: int, height: int, fmt: str = "yuv420p"
    ) -> VideoFrame:
        """A new frame at ``width``×``height`` in ``fmt`` (same pts and time base)."""
        out = self._reformatter.reformat(frame, width=width, height=height, format=fmt, threads=1)
        if out is frame:  # nothing to do: PyAV returns the frame itself
            return frame
        out.pts, out.time_base = frame.pts, frame.time_base
        return out

    def rgb(self, frame: VideoFrame, max_width: int = 0) -> np.ndarray:
        """The frame as an RGB array (height × width × 3), at most ``max_width`` wide."""
        width, height = frame.width, frame.height
        if max_width and width > max_width:
            width, height = max_width, int(height * max_width / width) // 2 * 2
        out = self._reformatter.reformat(
            frame, width=width, height=height, format="rgb24", threads=1
        )
        # to_ndarray on the new frame: its own converter is never used (already rgb24).
        return out.to_ndarray()
