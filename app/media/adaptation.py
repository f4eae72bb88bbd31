"""Adaptation: once a second, read the link and set what we send and how we receive.

From aiortc's stats, the far end's queue feedback (``media.feedback``) and our own arrival
meter, ``CallAdaptation.step`` produces the ``CallStats`` the window shows and:

- moves the ladder (size, frame rate, video and audio bitrate, audio packet length and
  copy: ``app.media.ladder``, ``app.media.audio_plan``) and
  applies the rung to the outgoing video, telling the far end when video pauses or resumes;
- switches the audio copy (each packet also carries the previous one) on while the link
  loses packets and off after 20 s without loss;
- sets the receive side's video playout delay and hole timing from the round trip while
  packets are being lost (``app.media.receive``, ``app.media.lowband``).

Media loop only; stock mode (``lowband=False``) only reports.
"""

from __future__ import annotations

from collections.abc import Callable

from app.media.ladder import AUDIO_ONLY, LADDER, LadderController
from app.media.lowband import SendControl, late_repairs, parity_received, set_hole_timing
from app.media.messaging import CallMessaging
from app.media.peer import PeerGeneration
from app.media.quality import quality_bars
from app.media.stats import CallStats
from app.media.video_parity import PAIR_GROUPS, WIDE_GROUPS
from app.protocol.datachannel import PauseReason

PARITY_FLOOR_S = 0.03
CPU_WINDOW_S = 5.0  # the media loop's stalls over this long say whether the CPU keeps up
WIDE_PARITY_MIN_FPS = 12


class CallAdaptation:
    """The ladder, the send controls and the receive-side delay of one call."""

    def __init__(
        self,
        *,
        lowband: bool,
        start_rung: int,
        audio_only: bool,
        messaging: CallMessaging,
        pause_reason: Callable[[], PauseReason],
    ) -> None:
        self.lowband = lowband
        self.messaging = messaging
        self.pause_reason = pause_reason
        self.control = SendControl()
        self.ladder = LadderController(start_rung=start_rung)
        self.ladder.forced_audio_only = audio_only
        self._loss_free_since: float | None = None
        self._loss_in = 0.0  # smoothed loss of what we receive
        self._clean_in_since: float | None = None
        self._parity_count = 0
        self._parity_at: float | None = None

    async def step(self, gen: PeerGeneration, now: float, flowing: bool) -> CallStats:
        """Read the link, adapt, and return what the window shows."""
        report = await gen.pc.getStats()
        stats = CallStats(at=now, session=gen.session)
        gen.stats_reader.read(report, now, stats)
        parity = False
        repairs = None
        if self.lowband:
            for tx in gen.pc.getTransceivers():
                if tx.kind == "video":
                    set_hole_timing(tx.receiver, stats.rtt_s)
                    parity = self._parity_arriving(parity_received(tx.receiver), now)
                    repairs = late_repairs(tx.receiver)
        for drain in gen.drains:
            if drain.track.kind == "video":
                stats.recv_size, stats.recv_fps = drain.video.size, drain.video.fps(now)
                if self.lowband:
                    drain.playout.repairs = repairs
                    drain.playout.repaired_ahead = parity
                    drain.playout.delay_s = self.video_delay(stats, parity)
        stats.av_skew_s, stats.audio_sync_delay_s = gen.lipsync.skew_s, gen.lipsync.audio_delay_s
        video = gen.video_out
        if video is not None:
            stats.send_size = video.size if not video.paused else (0, 0)
        stats.remb_bps = self.control.fresh_remb()
        self.choose_audio_redundancy(now, stats.loss_out)
        if self.lowband:
            mine = gen.arrivals.feedback(now)
            stats.queue_in_ms = mine.queue_ms
            stats.loop_stall_ms = mine.stall_ms
            stats.cpu_busy = gen.loop_lag.stalled_s(now, CPU_WINDOW_S) / CPU_WINDOW_S
            self.messaging.send_feedback(mine.recv_bps, mine.queue_ms, mine.stall_ms)
        feedback = self.messaging.fresh_feedback(now)
        if feedback is not None:
            stats.queue_out_ms = feedback.queue_ms
        if self.lowband and video is not None:
            decision = self.ladder.update(
                now,
                stats.remb_bps,
                stats.loss_out,
                stats.rtt_s,
                stats.send_video_bps,
                stats.send_bps,
                feedback,
                # Our longest stall while the packets the far end's reading covers were
                # sent: a second of them, one way before it and the feedback's way back.
                own_stall_ms=1000.0 * gen.loop_lag.longest_s(now, 1.0 + (stats.rtt_s or 0.0)),
                cpu_busy=stats.cpu_busy,
            )
            self.control.video_bps = max(decision.video_bps, 20_000)
            self.control.audio_bps = decision.audio_bps
            if decision.audio is not None:
                self.control.audio_frame_ms = decision.audio.frame_ms
                self.control.audio_copy_bps = decision.audio.copy_bps
            loss_pct = int(round((stats.loss_out or 0) * 100))
            self.control.expected_loss_pct = max(5, min(25, loss_pct + 3))
            self.apply_rung(gen, decision.rung)
            stats.estimate_bps = decision.estimate_bps
            stats.rung = LADDER[decision.rung].name
        elif video is None:
            stats.rung = "audio only"
        else:
            stats.rung = "stock"
        stats.send_fps = send_fps(gen, now)
        # Bitrate only says something about the link while the far end sends video.
        expects_video = self.messaging.remote_video_paused is None and any(
            d.track.kind == "video" and d.video.frames for d in gen.drains
        )
        stats.bars = quality_bars(
            stats.loss_in, stats.rtt_s, stats.recv_bps if expects_video else None, flowing
        )
        return stats

    def _parity_arriving(self, received: int, now: float) -> bool:
        """Whether the far end's video parity has been arriving over the last 3 s."""
        if received != self._parity_count:
            self._parity_count, self._parity_at = received, now
        return self._parity_at is not None and now - self._parity_at < 3.0

    def video_delay(self, stats: CallStats, parity: bool = False) -> float:
        """Hold video one NACK round trip (see receive.py) from the start of a call until
        20 s have passed without loss: the first losses would otherwise freeze video before
        the loss is even measured. With parity arriving, parity repairs most losses: only a
        token floor (the clock on; ``PlayoutClock`` follows the late frames)."""
        if stats.loss_in is not None:
            self._loss_in = 0.8 * self._loss_in + 0.2 * stats.loss_in
            if self._loss_in >= 0.003:
                self._clean_in_since = None
            elif self._clean_in_since is None:
                self._clean_in_since = stats.at
        clean = self._clean_in_since is not None and stats.at - self._clean_in_since > 20.0
        if clean or stats.rtt_s is None:
            return 0.0
        if parity:
            return PARITY_FLOOR_S
        # A retransmission lands ~1 RTT after the original; ~150 ms more is not yet a freeze.
        return max(0.0, stats.rtt_s - 0.05)

    def choose_audio_redundancy(self, now: float, loss: float | None) -> None:
        """Copy each audio packet into the next one (and send video parity) while the link
        loses packets; stop after 20 s without loss (a clean link saves ~15 kbit/s and the
        parity's ~30 % of the video), resume at the first loss."""
        if loss is None:
            return
        if loss >= 0.005:
            self._loss_free_since = None
        elif self._loss_free_since is None:
            self._loss_free_since = now
        on = self._loss_free_since is None or now - self._loss_free_since < 20.0
        # Video parity follows it too (SendControl.sends_parity).
        self.control.audio_redundancy = self.ladder.audio_redundancy = on

    def apply_rung(self, gen: PeerGeneration, rung_index: int) -> None:
        """Send at ``rung_index``; tell the far end if video pauses or resumes."""
        video = gen.video_out
        if video is None:
            return
        was_paused = video.paused
        video.rung = LADDER[rung_index]
        # A 4-frame parity group at 10 fps or less spans longer than a NACK round trip on
        # the links that need it (c: 600 ms): there, one parity per pair of frames.
        wide = video.rung.fps >= WIDE_PARITY_MIN_FPS
        self.control.parity_grouping = WIDE_GROUPS if wide else PAIR_GROUPS
        # Below that, every other frame is one nobody refers to: lost, it is passed over
        # instead of waited for (app.media.temporal_layers; with libvpx driven directly).
        # Above it too while the link loses packets (b): a group with two losses waited a
        # NACK round trip (~0.4 s, a freeze) about five times a minute at 3 % loss; with
        # layers a base frame is its own parity group (at b's ~1 packet a frame: a copy)
        # and a lost upper frame is one frame interval of motion.
        self.control.temporal_layers = not wide or self.control.audio_redundancy
        if video.paused != was_paused:
            self.messaging.announce_video(video.paused, self.pause_reason())

    def set_audio_only(self, gen: PeerGeneration | None, on: bool) -> None:
        """The user's switch: force the audio-only rung (or release it)."""
        self.ladder.forced_audio_only = on
        if gen is None or gen.video_out is None:
            return
        if on:
            self.ladder.rung = AUDIO_ONLY
        elif self.ladder.rung == AUDIO_ONLY:
            self.ladder.rung = len(LADDER) - 2  # climb back from the lowest video rung
        if self.lowband:
            self.apply_rung(gen, self.ladder.rung)


def send_fps(gen: PeerGeneration, now: float) -> float:
    """Frames per second sent since the last call (0 the first time)."""
    video = gen.video_out
    if video is None:
        return 0.0
    prev, gen.fps_mark = gen.fps_mark, (now, video.sent_frames)
    if prev is None or now <= prev[0]:
        return 0.0
    return (video.sent_frames - prev[1]) / (now - prev[0])
