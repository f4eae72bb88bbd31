"""Lip sync at the receiver: how far video is shown from its audio, and the audio delay
that brings it back within ITU-R BT.1359's window (video at most 45 ms after, or 125 ms
before, the sound that belongs with it).

Each stream's RTCP sender reports tie its RTP clock to the sender's NTP clock, so the RTP
timestamp of every frame we hand out turns into the sender time it stands for. For each
stream, "handed out (local monotonic) − sender time" is a constant plus how long that
stream spends between the two PCs; the difference video − audio is the skew, whatever the
two clocks are (the constant cancels, both streams come from one sender clock).

aiortc's sender reports pair the RTP timestamp of the last packet sent with the time it was
sent, not the time it was captured, so the skew measured here leaves out the difference in
encoding time at the sender (the benchmark compares it against the stamped pattern and
tone, which include it). Audio counts from when it will be heard: handed out plus what
waits in the speaker's buffer before it (``audio_output_s``, set by the session when a
speaker plays).

The video playout delay (``app.media.receive.PlayoutClock``) waits for retransmissions on a
lossy link, so video is the later stream; audio is held back by ``audio_delay_s`` until
the skew sits near ``TARGET_S`` (video a little early: the window's tolerant side).
The delay moves only when the skew leaves ``KEEP`` (each move is an audible hiccup in
playback) and never beyond ``max_audio_delay_s`` (conversation needs the voice to stay
early: ITU-T G.114).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

NTP_FRACTION = 1 << 32
RTP_WRAP = 1 << 32
WINDOW = (-0.125, 0.045)  # BT.1359: video − audio, seconds
# Aimed at the window's tolerant side: on link b the estimate reads video ~10–30 ms earlier
# than the stamped pattern and tone do (cause not found: the video reports' send-time bias
# is only 2–3 ms), and a voice slightly late is noticed far later (125 ms) than early.
TARGET_S = -0.025
KEEP = (-0.100, 0.010)  # no correction while the skew stays in here
SAMPLES_S = 3.0  # median over this much of each stream
SETTLE_S = 2.0  # after a change, wait for frames handed out under the new delay
MAX_AUDIO_DELAY_S = 0.6


def ntp_seconds(ntp: int) -> float:
    """A 64-bit NTP timestamp in seconds."""
    return ntp / NTP_FRACTION


@dataclass
class _Stream:
    clock_rate: int
    sr: tuple[float, int] | None = None  # (sender seconds, RTP timestamp)
    origin: Callable[[], int | None] | None = None  # RTP timestamp of pts 0

    def __post_init__(self) -> None:
        self.offsets: deque[tuple[float, float]] = deque()  # (handed out, − sender time)

    def sender_time(self, pts: int) -> float | None:
        origin = self.origin() if self.origin is not None else None
        if self.sr is None or origin is None:
            return None
        sr_time, sr_rtp = self.sr
        step = (pts + origin - sr_rtp) % RTP_WRAP
        if step >= RTP_WRAP // 2:
            step -= RTP_WRAP
        return sr_time + step / self.clock_rate

    def median(self, now: float) -> float | None:
        while self.offsets and now - self.offsets[0][0] > SAMPLES_S:
            self.offsets.popleft()
        if len(self.offsets) < 5:
            return None
        return statistics.median(o for _, o in self.offsets)


class LipSync:
    """One peer connection's receive side: fed sender reports and the frames handed out."""

    def __init__(self, max_audio_delay_s: float = MAX_AUDIO_DELAY_S) -> None:
        self.max_audio_delay_s = max_audio_delay_s
        self.audio_delay_s = 0.0
        self.skew_s: float | None = None  # video − audio as handed out, latest estimate
        self.corrections = 0
        self._streams = {"audio": _Stream(48_000), "video": _Stream(90_000)}
        self._hold_until = 0.0
        # How long audio handed out now waits before it is heard (the speaker's buffer).
        self.audio_output_s: Callable[[], float] | None = None

    def set_origin(self, kind: str, origin: Callable[[], int | None]) -> None:
        """How to find the RTP timestamp of pts 0 for ``kind`` (known after the first frame)."""
        self._streams[kind].origin = origin

    def sender_report(self, kind: str, ntp: int, rtp_timestamp: int) -> None:
        """An RTCP sender report for ``kind``'s stream."""
        self._streams[kind].sr = (ntp_seconds(ntp), rtp_timestamp)

    def handed_out(self, kind: str, pts: int | None, now: float) -> None:
        """A frame of ``kind`` left our buffers for the screen or the speaker at ``now``."""
        stream = self._streams.get(kind)
        if stream is None or pts is None:
            return
        sent = stream.sender_time(pts)
        if sent is None:
            return
        heard = now
        if kind == "audio" and self.audio_output_s is not None:
            heard += self.audio_output_s()
        stream.offsets.append((now, heard - sent))
        if kind == "audio":
            self._update(now)

    def _update(self, now: float) -> None:
        video = self._streams["video"].median(now)
        audio = self._streams["audio"].median(now)
        if video is None or audio is None:
            self.skew_s = None
            return
        self.skew_s = video - audio
        if now < self._hold_until or KEEP[0] <= self.skew_s <= KEEP[1]:
            return
        if now - self._streams["audio"].offsets[0][0] < SETTLE_S:
            return  # audio under the current delay for a while before judging it
        wanted = min(max(0.0, self.audio_delay_s + self.skew_s - TARGET_S), self.max_audio_delay_s)
        if abs(wanted - self.audio_delay_s) < 0.005:
            return
        self.audio_delay_s = wanted
        self.corrections += 1
        # The audio offsets measured so far were under the old delay.
        self._streams["audio"].offsets.clear()
        self._hold_until = now + SETTLE_S

    def in_window(self) -> bool | None:
        """Whether the latest skew is inside BT.1359's window (None: not measured yet)."""
        if self.skew_s is None:
            return None
        return WINDOW[0] <= self.skew_s <= WINDOW[1]


def watch_lip_sync(receiver: object, kind: str, sync: LipSync) -> None:
    """Feed ``sync`` with ``receiver``'s sender reports and its pts origin."""
    from app.media import aiortc_adapter as adapter  # here: keeps this module aiortc-free

    def origin() -> int | None:
        ours = getattr(adapter.jitter_buffer(receiver), "rtp_origin", None)  # type: ignore[arg-type]
        return ours if ours is not None else adapter.timestamp_origin(receiver)  # type: ignore[arg-type]

    sync.set_origin(kind, origin)
    adapter.tap_sender_reports(
        receiver,  # type: ignore[arg-type]
        lambda ntp, rtp: sync.sender_report(kind, ntp, rtp),
    )
