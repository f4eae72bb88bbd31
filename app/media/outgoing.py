"""What we send: a source track shaped by the ladder (size, frame rate) and the user's
switches (camera off, mute).

Mute sends silence instead of stopping audio, so the far end keeps receiving packets and
its dead-path detector stays quiet; camera off and the audio-only rung stop video frames
while the source keeps being drained (a camera left unread fills its buffers).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame, VideoFrame

from app.media.frames import FrameConverter
from app.media.ladder import LADDER, Rung
from app.media.slots import LatestFrameSlot


class OutgoingVideoTrack(MediaStreamTrack):
    """Wraps a video source; follows the current rung; feeds the local preview."""

    kind = "video"

    def __init__(
        self,
        source: MediaStreamTrack,
        rung: Rung | None = None,
        preview: LatestFrameSlot | None = None,
        tap: Callable[[VideoFrame], None] | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.rung: Rung | None = rung  # None: send the source as it is (stock mode)
        self.camera_on = True
        self.preview = preview
        self.tap = tap  # benchmark hook: sees each frame exactly as handed to the encoder
        self._next_due = 0.0
        self._converter = FrameConverter()  # this track's thread (the media loop) only
        self.sent_frames = 0
        self.size = (0, 0)

    @property
    def paused(self) -> bool:
        """True when no video is being sent (camera off or audio-only rung)."""
        return not self.camera_on or (self.rung is not None and self.rung.audio_only)

    async def recv(self) -> VideoFrame:
        while True:
            frame = await self.source.recv()
            assert isinstance(frame, VideoFrame)  # a video track yields decoded frames
            if self.preview is not None and self.camera_on:
                self.preview.offer_video(frame)  # converted now, before the encoder has it
            if self.paused:
                continue
            rung = self.rung
            now = time.monotonic()
            if rung is not None:
                if now < self._next_due:
                    continue  # frame-rate decimation
                interval = 1.0 / rung.fps
                # Schedule from the ideal time, but never build up credit after a pause.
                self._next_due = max(self._next_due + interval, now + interval * 0.5)
                # A new frame for the encoder's thread, made by our own converter.
                frame = self._converter.scaled(frame, rung.width, rung.height)
            self.size = (frame.width, frame.height)
            self.sent_frames += 1
            if self.tap is not None:
                self.tap(frame)
            return frame

    # stop() is inherited: it ends this wrapper only. The source (camera) outlives a peer
    # connection, so a reconnection reuses it; MediaSession stops it at the end of the call.


class OutgoingAudioTrack(MediaStreamTrack):
    """Wraps an audio source; sends silence while muted."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.source = source
        self.muted = False

    async def recv(self) -> AudioFrame:
        frame = await self.source.recv()
        assert isinstance(frame, AudioFrame)  # an audio track yields decoded frames
        if not self.muted:
            return frame
        silent = AudioFrame.from_ndarray(
            np.zeros((1, frame.samples * len(frame.layout.channels)), np.int16)
            if frame.format.is_packed
            else np.zeros((len(frame.layout.channels), frame.samples), np.int16),
            format="s16" if frame.format.is_packed else "s16p",
            layout=frame.layout.name,
        )
        silent.sample_rate, silent.pts, silent.time_base = (
            frame.sample_rate,
            frame.pts,
            frame.time_base,
        )
        return silent


DEFAULT_RUNG = LADDER[1]
