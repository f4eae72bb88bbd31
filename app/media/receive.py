"""What we receive: tasks that drain the remote tracks as fast as frames arrive.

aiortc's ``RemoteStreamTrack`` has an unbounded queue; reading it promptly on the media
thread and handing video to a ``LatestFrameSlot`` keeps that queue near empty whatever the
GUI does. The meters measure what a person experiences (frames per second, freezes, size).

Video playout delay (``PlayoutClock``): at a 300 ms round trip, a frame whose packet was
lost waits one NACK round trip for the retransmission, so it arrives ~0.35 s late while its
neighbours arrive on time: a freeze every time a video packet is lost (1–2 a second at 3 %
loss). Like libwebrtc's jitter buffer, we hold every frame for ``delay_s`` past its
earliest possible arrival so that a retransmitted frame still plays in its turn; the
session sets the delay from the round trip only while packets are being lost (0 on a clean
link), capped at ``MAX_VIDEO_DELAY_S``. Audio is then held back by the lip-sync delay
(``app.media.lipsync``) so the voice does not run ahead of the picture.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from app.media.lipsync import LipSync
from app.media.slots import LatestFrameSlot
from app.tasks import stop_task

log = logging.getLogger(__name__)


class VideoMeter:
    """Received video: fps over the last 2 s, resolution, freezes and total frames."""

    def __init__(self) -> None:
        self.frames = 0
        self.size = (0, 0)
        self.last_at: float | None = None
        self._recent: deque[float] = deque(maxlen=120)

    def add(self, frame: VideoFrame, now: float) -> None:
        self.frames += 1
        self.size = (frame.width, frame.height)
        self.last_at = now
        self._recent.append(now)

    def fps(self, now: float) -> float:
        """Frames per second over the last two seconds."""
        recent = [t for t in self._recent if now - t <= 2.0]
        return len(recent) / 2.0


MAX_VIDEO_DELAY_S = 0.6
ORDER_STEP_S = 1e-6  # held frames: each due strictly after the previous one


LATE_PERCENTILE = 0.96
# A frame shown this much after its turn is a short hitch, not yet a freeze (a freeze is a
# gap of ~150 ms beyond the frame interval: libwebrtc's freezeCount, bench/call_links.py).
STALL_TOLERANCE_S = 0.1
MAX_REPAIRED_AHEAD_DELAY_S = 0.3
# The most a parity repair delays a frame: its group's parity closes at most three frames on
# (app.media.video_parity.SHORT_GROUPS: 0.2 s at 15 fps; pairs at 9 fps 0.22 s), then sent.
PARITY_REPAIR_MAX_S = 0.25


class PlayoutClock:
    """When a frame with RTP time ``pts`` (90 kHz) should be shown: its earliest arrival
    over the last 10 s (the path without queueing or retransmission) plus a delay.

    The delay is ``delay_s`` (the session's one-round-trip rule) or, if larger, how late
    the 96th-percentile frame of the last 10 s arrived: a retransmission also waits for the
    loss to be noticed and for the queue, so on link b the frames it repaired came
    80–230 ms after a one-round-trip delay and each counted as a freeze. Only while
    ``delay_s`` is on (the session turns it off on a clean link).

    ``repaired_ahead``: the far end sends parity (``app.media.video_parity``), so most lost
    packets are rebuilt within a few frames and only the few left to NACK take a round
    trip. The delay then follows the latest frame rebuilt from parity over the last 60 s
    (as how much later it came than the last plain frames then, added to theirs now: one
    rebuilt during a passing queue held the picture at queue + repair for a minute) and the
    latest plain frame of the last 10 s; frames that waited for a retransmission are left
    out (``repairs``: how the video buffer made each late frame whole). Both less what a
    viewer takes as a hitch rather than a freeze (``STALL_TOLERANCE_S``), within
    ``MAX_REPAIRED_AHEAD_DELAY_S``: on link b the picture is ~0.3 s glass-to-glass instead
    of ~0.75 s, the price being a freeze for the rare frame that waited for a
    retransmission. The latest, not the 96th percentile, and a long memory for parity:
    frames rebuilt from it are ~1 % of b's frames, one every 10–20 s, 0.1–0.25 s late
    (bounded by how many frames a parity group spans); under a percentile or a 10 s
    memory most of them were freezes (4–8 a minute)."""

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.repaired_ahead = False
        # The earliest arrival − media time of the last 10 s: the path without queueing.
        self._earliest = _RunningMax(10.0, lowest=True)
        self._lateness: deque[tuple[float, float]] = deque()  # (arrival, s behind the earliest)
        # repaired_ahead: how much later than the plain frames those rebuilt from parity came
        # (60 s) and the latest plain frame (10 s).
        self._parity_extra = _RunningMax(60.0)  # beyond the last plain frames' lateness then
        self._other_late = _RunningMax(10.0)
        self._plain: deque[float] = deque(maxlen=5)  # lateness of the last frames not repaired
        self.repairs: Mapping[int, str] | None = None  # DeadlineVideoBuffer.repaired
        # (pts, arrival, due) of the recent frames: a benchmark reads why a frame was late.
        self.history: deque[tuple[int, float, float]] = deque(maxlen=2048)

    def observed_delay(self) -> float:
        """How late the 96th-percentile frame of the last 10 s came (seconds)."""
        if len(self._lateness) < 20:
            return 0.0
        ordered = sorted(late for _, late in self._lateness)
        return ordered[int(LATE_PERCENTILE * (len(ordered) - 1))]

    def due(self, pts: int | None, now: float) -> float:
        """The monotonic time to show this frame (``now`` or later)."""
        if pts is None or self.delay_s <= 0:
            return now
        media = pts / 90_000
        offset = now - media
        self._earliest.add(now, offset)
        earliest = self._earliest.value(now)
        while self._lateness and now - self._lateness[0][0] > 10.0:
            self._lateness.popleft()
        late = offset - earliest
        self._lateness.append((now, late))
        how = self.repairs.get(pts) if self.repairs is not None else None
        # A frame later than the delay could ever cover (a CPU stall, an outage) would only
        # hold every frame of the next 10 s at the cap: not counted.
        if late <= MAX_REPAIRED_AHEAD_DELAY_S + STALL_TOLERANCE_S:
            if how is None:
                self._plain.append(late)
                self._other_late.add(now, late)
            elif how == "parity" and (extra := late - self._plain_level()) <= PARITY_REPAIR_MAX_S:
                # What the repair added to the path's lateness then: a rebuilt frame during
                # a passing queue must not hold the picture at queue + repair for 60 s.
                # Later than a parity group can explain, it waited behind a NACK's answer
                # (a group unlocked by a retransmission): left out like a resent frame.
                self._parity_extra.add(now, extra)
        due = max(now, media + earliest + self.delay())
        self.history.append((pts, now, due))
        return due

    def _plain_level(self) -> float:
        """How late the path is now: the median of the last frames that needed no repair."""
        return statistics.median(self._plain) if self._plain else 0.0

    def delay(self) -> float:
        """The delay now (s) behind the earliest arrival."""
        if self.repaired_ahead:
            now = self._lateness[-1][0] if self._lateness else 0.0
            worst = 0.0
            if len(self._lateness) >= 20:
                repaired = self._plain_level() + self._parity_extra.value(now)
                worst = max(repaired, self._other_late.value(now))
            return min(max(self.delay_s, worst - STALL_TOLERANCE_S), MAX_REPAIRED_AHEAD_DELAY_S)
        return min(max(self.delay_s, self.observed_delay() + 0.02), MAX_VIDEO_DELAY_S)


class _RunningMax:
    """The largest (or with ``lowest``, the smallest) value added over the last
    ``window_s`` seconds."""

    def __init__(self, window_s: float, lowest: bool = False) -> None:
        self.window_s = window_s
        self._sign = -1.0 if lowest else 1.0
        self._items: deque[tuple[float, float]] = deque()  # (when, sign × value), decreasing

    def add(self, now: float, value: float) -> None:
        value *= self._sign
        while self._items and self._items[-1][1] <= value:
            self._items.pop()
        self._items.append((now, value))

    def value(self, now: float) -> float:
        while self._items and now - self._items[0][0] > self.window_s:
            self._items.popleft()
        return self._sign * self._items[0][1] if self._items else 0.0


class AudioMeter:
    """Received audio: frames, samples and the time of the last frame."""

    def __init__(self) -> None:
        self.frames = 0
        self.samples = 0
        self.last_at: float | None = None

    def add(self, frame: AudioFrame, now: float) -> None:
        self.frames += 1
        self.samples += frame.samples
        self.last_at = now


class TrackDrain:
    """Reads one remote track until it ends; video goes to a slot, both to meters."""

    def __init__(
        self,
        track: MediaStreamTrack,
        slot: LatestFrameSlot | None,
        on_frame: Callable[[object, float], None] | None = None,
        sync: LipSync | None = None,
    ) -> None:
        self.track = track
        self.sync = sync
        self.slot = slot
        self.on_frame = on_frame
        self.video = VideoMeter()
        self.audio = AudioMeter()
        self.playout = PlayoutClock()
        self._last_due = 0.0
        self._last_audio_due = 0.0
        self._pending: set[asyncio.TimerHandle] = set()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await self.track.recv()
                now = time.monotonic()  # the arrival time: the playout clock needs it unskewed
                if isinstance(frame, VideoFrame):
                    # Never out of order: asyncio's timer heap does not keep equal times
                    # in insertion order, so each due time is strictly after the last.
                    due = max(self.playout.due(frame.pts, now), self._last_due + ORDER_STEP_S)
                    self._last_due = due
                    if due > now:  # asyncio's clock is time.monotonic()
                        self._pending.add(loop.call_at(due, self._show, frame))
                        continue
                elif self.sync is not None:
                    # Held back so the voice does not run ahead of the picture (lip sync).
                    due = max(now + self.sync.audio_delay_s, self._last_audio_due + ORDER_STEP_S)
                    if due > now:
                        self._last_audio_due = due
                        self._pending.add(loop.call_at(due, self._show, frame))
                        continue
                self._show(frame)
        except MediaStreamError:
            pass  # the track ended
        except Exception:  # noqa: BLE001 - a bad frame must not kill the call
            log.exception("receiving %s failed", self.track.kind)

    def _show(self, frame: object) -> None:
        now = time.monotonic()
        self._pending = {h for h in self._pending if not h.cancelled() and h.when() > now}
        try:
            if self.sync is not None:
                self.sync.handed_out(self.track.kind, getattr(frame, "pts", None), now)
            if isinstance(frame, VideoFrame):
                self.video.add(frame, now)
                if self.slot is not None:
                    self.slot.offer_video(frame)
            elif isinstance(frame, AudioFrame):
                self.audio.add(frame, now)
            if self.on_frame is not None:
                self.on_frame(frame, now)
        except Exception:  # noqa: BLE001 - a bad frame must not kill the call
            log.exception("showing a %s frame failed", self.track.kind)

    async def stop(self, timeout: float = 2.0) -> bool:
        """Stop reading (frames still waiting for their turn are dropped); False if the
        reader did not end within ``timeout`` s (logged)."""
        for handle in self._pending:
            handle.cancel()
        return await stop_task(self._task, timeout, f"the {self.track.kind} drain")
