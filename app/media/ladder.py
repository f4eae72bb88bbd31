"""The low-bandwidth ladder: which resolution, frame rate and bitrates to send right now.

Inputs once a second: the far end's link feedback (``app.media.arrival``: the queue it sees
on our path and the rate it received, sent over the data channel by a peer running this
code), the fraction of our packets lost and the round-trip time (RTCP receiver reports), and
the receiver's REMB (aiortc's delay-based estimate of video only).

With feedback, the queue drives the estimate: it grows while the queue is short or steady,
holds while one stands, and above ``QUEUE_FULL_MS`` (or when filling fast) falls back to
0.85 × what arrived, remembering that point as a ceiling to creep towards afterwards.
Without feedback (an older peer, the hub's echo) REMB below what we send and not rising
caps it, and an RTT above its floor holds it. Loss follows Chrome's rule on loss smoothed
over a couple of seconds: under 2 % grow, 2–10 % hold — or grow, if no queue is seen (random
radio loss, link b) —, above 10 % cut by half the loss rate, once per round trip.

Start low, probe up: a call starts at ``start_rung`` (160×120@5 in the product) with an
estimate that fits it, so a 96 kbit/s link is never flooded by the first seconds of video;
until the first queue or step down, steps up need only ``startup_up_hold_s`` good seconds
(and, with feedback, go straight to the rung the estimate allows).

Audio always comes first: its budget (Opus bitrate, its redundancy copy and packet overhead,
``app.media.audio_plan``: thinner below 140 kbit/s) is taken off the estimate before video is
considered, and the last rung sends audio only.

Hysteresis against oscillation: stepping down needs two bad seconds in a row (one, if the
budget is far below the rung); stepping up needs ``up_hold_s`` good seconds and goes one
rung at a time. A step up that has to be undone within ``probe_window_s`` doubles the
hold (up to ``max_up_hold_s``), so a link hovering at a boundary settles instead of flapping.
Pure logic, no aiortc: tested directly and driven by ``MediaSession``.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.media.arrival import LinkFeedback
from app.media.audio_plan import AudioPlan, AudioPlanner


@dataclass(frozen=True)
class Rung:
    """One step of the ladder; ``min_kbps`` is the video budget needed to use it."""

    name: str
    width: int
    height: int
    fps: float
    min_kbps: float
    max_kbps: float

    @property
    def audio_only(self) -> bool:
        return self.width == 0


LADDER: tuple[Rung, ...] = (
    Rung("640x480@15", 640, 480, 15, 380, 900),
    # Link b (256 kbit/s): after audio and parity the encoder gets ~110–140 kbit/s. With
    # libvpx filling its target (app.media.vpx_native) that is QP ~55–75 of 127 at 480×360
    # (libwebrtc scales down only above 95), and the picture at the camera's 640×480 is
    # better than 320×240's at more bits (PSNR at 640×480 on the test pattern, offline:
    # 29.6 dB at 120 kbit/s against 27.6 dB for 320×240 at 150).
    Rung("480x360@15", 480, 360, 15, 125, 450),
    Rung("320x240@15", 320, 240, 15, 100, 250),
    Rung("320x240@12", 320, 240, 12, 85, 200),
    Rung("160x120@10", 160, 120, 10, 58, 110),
    # Link c (96 kbit/s): after audio (~31 kbit/s) the estimate leaves 25–55 kbit/s, of which
    # ~35 % is video parity; 160×120 holds 9 fps down to ~57 kbit/s estimates (the
    # estimate dips there after each queue), 10 rarely. 9, not 8: with temporal layers a
    # lost upper-layer frame is passed over, ~2.5 % of the frames at 5 % loss (8 fps sent
    # arrived as 7.7–7.8).
    Rung("160x120@9", 160, 120, 9, 22, 70),
    Rung("160x120@5", 160, 120, 5, 16, 60),
    Rung("audio only", 0, 0, 0, 0, 0),
)
AUDIO_ONLY = len(LADDER) - 1


def rung_index(name: str) -> int:
    """The ladder position of the rung called ``name`` (e.g. ``"160x120@10"``)."""
    return [r.name for r in LADDER].index(name)


START_RUNG = rung_index("160x120@5")  # where a call starts (see above)


QUEUE_CLEAR_MS = 30.0  # below: no queue on the path, room to grow
QUEUE_STANDING_MS = 60.0  # below, a queue that is not growing still leaves room
QUEUE_FULL_MS = 100.0  # above: we are filling a queue; fall back to the received rate

# CPU overuse (libwebrtc's answer: fewer pixels, not fewer bits). ``cpu_busy`` is the share
# of the last seconds our media loop spent stalled (``app.media.loop_lag``): above HOLD no
# step up past CPU_FLOOR_RUNG; above SHED for CPU_SHED_AFTER_S, one rung down (never below
# CPU_FLOOR_RUNG, never to audio only: voice is cheap), released when the loop runs freely.
CPU_BUSY_HOLD = 0.4
CPU_BUSY_SHED = 0.6
CPU_BUSY_CLEAR = 0.15
CPU_SHED_AFTER_S = 10.0
CPU_FLOOR_RUNG = rung_index("160x120@9")

# The far end has sent feedback in this call but none is fresh: hold this long before the
# RTCP rules take over (a data channel that died; older peers never send any).
FEEDBACK_GAP_HOLD_S = 10.0

# How long the estimate at which a queue formed slows the growth. Each probe past it costs
# a queue of 100–170 ms on b (a cluster of freezes); with libvpx filling its target
# (app.media.vpx_native) the probes came every ~35 s at 30.
CEILING_MEMORY_S = 60.0


@dataclass(frozen=True)
class _QueueView:
    """What this second's signals say about a queue on our path."""

    measured: bool  # from the far end's feedback (else RTT and REMB)
    room: bool  # no queue, or a steady small one: the estimate may grow
    growing: bool  # a queue is building
    overuse: bool  # the path is full: bring the estimate down to what it carries
    crowded: bool  # a queue stands: no step up now


@dataclass
class LadderDecision:
    """What the sender should do now."""

    rung: int
    video_bps: int
    audio_bps: int
    estimate_bps: int
    audio: AudioPlan | None = None  # packet length and copy (None: 40 ms, full copy)


class LadderController:
    """Turns REMB + loss + RTT into a rung and bitrates, with hysteresis."""

    def __init__(
        self,
        start_rung: int = START_RUNG,
        start_estimate_bps: float = 90_000,
        max_estimate_bps: float = 1_500_000,
        up_hold_s: float = 6.0,
        max_up_hold_s: float = 60.0,
        probe_window_s: float = 15.0,
        startup_up_hold_s: float = 2.0,
    ) -> None:
        self.rung = start_rung
        self.estimate = self.start_estimate = float(start_estimate_bps)
        self.max_estimate = max_estimate_bps
        self.audio = AudioPlanner()
        self.base_up_hold = up_hold_s
        self.up_hold = up_hold_s
        self.max_up_hold = max_up_hold_s
        self.probe_window = probe_window_s
        self.forced_audio_only = False
        self.audio_redundancy = True
        self.startup = True  # until the first step down: probe up quickly
        self.startup_up_hold = startup_up_hold_s
        self.loss: float | None = None  # smoothed
        self._rembs: list[tuple[float, float]] = []
        self._last_video_bps = 0
        self.min_rtt: float | None = None
        self._bad_since: float | None = None
        self._bad_count = 0
        self._good_since: float | None = None
        self._last_up_at: float | None = None
        self._last_cut_at: float | None = None
        self._ceiling: tuple[float, float] | None = None  # (when, estimate) a queue last formed
        self._last_queue_ms: float | None = None
        self._full_before = False  # the last reading said "full"
        self._last_reading: tuple[int, float | None] | None = None
        self._stalled = False  # a loop stalled on either end this second
        self._feedback_at: float | None = None  # when the far end's feedback last came
        self.cpu_cap: int | None = None  # the best rung the CPU allows now (None: any)
        self._cpu_short_since: float | None = None

    def audio_total_bps(self, estimate: float) -> float:
        """What audio takes on the wire at this estimate (voice, copy, headers)."""
        return self.audio.peek(estimate).wire_bps(self.audio_redundancy)

    def budget(self, estimate: float) -> tuple[int, int]:
        """(audio bitrate, video budget) for an estimate: audio is served first."""
        audio = self.audio.peek(estimate).bitrate
        video = estimate - self.audio_total_bps(estimate)
        return audio, int(max(0.0, video) * 0.9)  # 10 % for RTCP, NACK/RTX, keyframes

    def target_rung(self, video_budget_bps: float) -> int:
        """The best rung whose needs fit the video budget."""
        for i, rung in enumerate(LADDER):
            if rung.audio_only or video_budget_bps >= rung.min_kbps * 1000:
                return i
        return AUDIO_ONLY

    def update(
        self,
        now: float,
        remb_bps: float | None,
        loss: float | None,
        rtt_s: float | None,
        video_sent_bps: float | None = None,
        sent_bps: float | None = None,
        feedback: LinkFeedback | None = None,
        own_stall_ms: float = 0.0,
        cpu_busy: float = 0.0,
    ) -> LadderDecision:
        """Fold in one second of feedback and decide.

        ``feedback`` is the far end's own view (``media.feedback``, a peer running this
        code); without it REMB and RTT stand in for the queue. ``own_stall_ms``: how long
        our media loop stalled while the packets that reading covers were sent
        (``app.media.loop_lag``); ``cpu_busy``: the share of the last seconds it spent
        stalled (see ``CPU_BUSY_HOLD``)."""
        before = self.estimate
        if rtt_s is not None:
            self.min_rtt = rtt_s if self.min_rtt is None else min(self.min_rtt, rtt_s)
        # A starved CPU on either end makes packets late without any queue on the path.
        # The far end leaves out what it read late; what we sent late counts only on the
        # audio-only rung (audio is timed by its samples, video by abs-send-time stamped as
        # it leaves), and a second with stalls on either end must be confirmed by the next.
        stalled = own_stall_ms > 0 or (feedback is not None and feedback.stall_ms > 0)
        if feedback is not None:
            self._feedback_at = now
        self._stalled = stalled
        if feedback is not None and feedback.queue_ms is not None:
            late_sent = own_stall_ms if self.rung == AUDIO_ONLY else 0.0
            # The far end's last feedback is used for up to 3 s: one reading seen twice
            # confirms nothing (traced on b: one 161 ms reading, two seconds, one cut).
            reading = (feedback.recv_bps, feedback.queue_ms)
            new, self._last_reading = reading != self._last_reading, reading
            view = self._queue_from_feedback(feedback.queue_ms, late_sent, stalled, new)
        elif (feedback is not None and stalled) or (
            feedback is None
            and self._feedback_at is not None
            and now - self._feedback_at < FEEDBACK_GAP_HOLD_S
        ):
            # No reading (the far end left out every packet it read late), or the far end's
            # feedback is late (its loop, or the data channel's retransmissions, stalled):
            # hold, rather than fall back to REMB, which the same stalls pull down (it
            # capped the estimate at ~26 kbit/s when this was first tried; traced beside
            # stress-ng, feedback came seconds late and REMB read 11–30 kbit/s on link c).
            view = _QueueView(measured=True, room=False, growing=False, overuse=False, crowded=True)
            feedback = None
        else:
            feedback = None
            view = self._queue_from_rtcp(remb_bps, rtt_s, video_sent_bps)
        self._apply_loss(now, loss, rtt_s, view)
        self._apply_caps(now, before, remb_bps, view, feedback, video_sent_bps, sent_bps)
        self.estimate = max(20_000.0, min(self.estimate, self.max_estimate))
        plan = self.audio.plan(self.estimate)

        audio_bps, video_budget = self.budget(self.estimate)
        target = AUDIO_ONLY if self.forced_audio_only else self.target_rung(video_budget)
        self._choose_rung(now, self._cpu_limit(now, target, cpu_busy), video_budget, view)
        rung = LADDER[self.rung]
        if rung.audio_only:
            video_bps = 0
        else:
            video_bps = int(min(max(video_budget, rung.min_kbps * 1000), rung.max_kbps * 1000))
        self._last_video_bps = video_bps
        return LadderDecision(self.rung, video_bps, audio_bps, int(self.estimate), plan)

    # ---- the parts of one update ---------------------------------------------------------

    def _queue_from_feedback(
        self, queue: float, late_sent_ms: float = 0.0, stalled: bool = False, new: bool = True
    ) -> _QueueView:
        """The far end's queue reading: fresh every second, audio and video alike.

        ``late_sent_ms``: how late our own stalls may have made what the reading measured;
        the thresholds for "full" and "filling" move up by it. ``stalled``: a loop stalled
        on either end this second, so "full" must be seen twice in a row: stalls come and
        go, a real bottleneck's queue stays (and is cut a second later than on a calm PC)."""
        change = queue - self._last_queue_ms if self._last_queue_ms is not None else 0.0
        self._last_queue_ms = queue
        # Room to grow: no queue, or a small one that is not growing. A link used at ~80 %
        # keeps a standing queue of 30–40 ms (bursts, retransmissions) that says nothing
        # about running out: with "below 30 ms" alone link b never stepped up from
        # 320x240@12 (GCC judges the delay's trend for the same reason).
        room = queue < QUEUE_CLEAR_MS or (queue < QUEUE_STANDING_MS and change < 10.0)
        # Full, or filling fast: feedback is a second old when it arrives, and link b's
        # queue went from 74 to 267 ms in that second. Room is judged on the raw reading
        # (a stall never earns growth), fullness on what is left of it after the stalls.
        full, filling = queue - late_sent_ms, change - late_sent_ms
        overuse = full > QUEUE_FULL_MS or (full > 60.0 and filling > 25.0)
        if self.startup and full > 40.0 and filling > 15.0:
            # The first climb adds 15 % a second and its feedback is a second old: a queue
            # growing at all means the link is already over-full (b: 21 → 60 → 171 ms while
            # the estimate ran to 1.3× the link, then 0.4 s of queue and two freezes).
            overuse = True
        seen_before = self._full_before
        if new:
            self._full_before = overuse
        if stalled:
            overuse = overuse and seen_before and new
        if queue >= QUEUE_CLEAR_MS:
            self.startup = False  # the fast first climb stops at the first queue
        # Stepping up waits while the queue is above a standing one; a second of noise in
        # 30–60 ms must not restart the wait (b sat at 320x240@12 with the estimate grown
        # far past what 320x240@15 needs, then flooded the link with it).
        return _QueueView(
            measured=True,
            room=room,
            growing=overuse,
            overuse=overuse,
            crowded=queue >= QUEUE_STANDING_MS or overuse,
        )

    def _queue_from_rtcp(
        self, remb_bps: float | None, rtt_s: float | None, video_sent_bps: float | None
    ) -> _QueueView:
        """Without the far end's feedback: RTT against its floor, and REMB."""
        room = rtt_s is not None and self.min_rtt is not None and rtt_s < 1.1 * self.min_rtt + 0.03
        growing = (
            rtt_s is not None and self.min_rtt is not None and rtt_s > 1.3 * self.min_rtt + 0.05
        )
        # The receiver's delay-based estimate below what we send and not rising: a queue is
        # building. (aiortc's first REMB is just the throughput it measured so far: below
        # what a climbing sender sends now, but not a sign of a queue.)
        previous = self._rembs[-1][1] if self._rembs else None
        overuse = bool(
            remb_bps
            and video_sent_bps
            and previous is not None
            and remb_bps < 0.9 * video_sent_bps
            and remb_bps <= previous
        )
        return _QueueView(
            measured=False,
            room=room,
            growing=growing,
            overuse=overuse,
            crowded=rtt_s is not None and not room,
        )

    def _growth(self, now: float, rtt_s: float | None, view: _QueueView) -> float:
        """How much the estimate may grow this second when the signals allow it."""
        # Feedback on a long path comes late: probe more gently there.
        grow = 1.10 if self.startup and (rtt_s or 0) < 0.4 else 1.06 if (rtt_s or 0) > 0.4 else 1.08
        if self.startup and view.measured and view.room:
            grow = 1.15  # the far end says no queue: the call's first seconds climb fast
        if self._ceiling is not None and now - self._ceiling[0] > CEILING_MEMORY_S:
            self._ceiling = None
        if self._ceiling is not None and self.estimate > 0.85 * self._ceiling[1]:
            # Near where a queue formed last time: creep (AIMD's additive part) instead of
            # growing by a tenth a second into the same queue every ten seconds.
            grow = min(grow, 1.02)
        return grow

    def _apply_loss(
        self, now: float, loss: float | None, rtt_s: float | None, view: _QueueView
    ) -> None:
        """Chrome's loss rule, with random loss on a queue-free path allowed to grow."""
        if loss is None:
            return
        grow = self._growth(now, rtt_s, view)
        self.loss = loss if self.loss is None else 0.5 * self.loss + 0.5 * loss
        loss = self.loss
        if loss > 0.10:
            # Once per round trip and a bit: the loss reported right after a cut was caused
            # by the rate before it (the 600 ms link c was cut to audio only by one burst
            # counted three times).
            if self._last_cut_at is None or now - self._last_cut_at >= 0.5 + (rtt_s or 0.0):
                self.estimate *= 1.0 - 0.5 * loss
                self._last_cut_at = now
        elif view.overuse:
            pass  # hold: the caps below bring it down
        elif (
            loss < 0.02
            and (rtt_s is None or rtt_s < 1.0)
            and (view.room if view.measured else not view.growing)
        ):
            self.estimate *= grow
        elif view.room:
            # 2–10 % loss while no queue is seen: random loss on a radio link, not
            # congestion. Chrome would hold here for ever; we grow so a lossy but roomy link
            # gets its video.
            self.estimate *= max(1.01, grow - 0.03)

    def _apply_caps(
        self,
        now: float,
        before: float,
        remb_bps: float | None,
        view: _QueueView,
        feedback: LinkFeedback | None,
        video_sent_bps: float | None,
        sent_bps: float | None,
    ) -> None:
        """Bring the estimate back to what the path showed it carries."""
        if remb_bps:
            # The best REMB of the last 3 s: a keyframe's burst makes aiortc's delay-based
            # estimator dip for a second; a real queue keeps it down.
            self._rembs = [(t, r) for t, r in self._rembs if now - t < 3.0] + [(now, remb_bps)]
            best = max(r for _, r in self._rembs)
            # aiortc's REMB comes from the video receiver only (its audio receiver has no
            # estimator) and never exceeds 1.5× the video it receives, so while it reports
            # no queue it only says "not probed yet" (an easy scene that the encoder
            # undershoots kept a 2 Mbit/s link at 320×240). Below what we send it caps the
            # video part of the estimate.
            if view.overuse and feedback is None:
                self.estimate = min(self.estimate, best + self.audio_total_bps(self.estimate))
        if feedback is not None:
            if view.overuse and feedback.recv_bps:
                # A full queue: what arrived is what the path carries; send less than that
                # so the queue drains (GCC's 0.85 × acknowledged rate).
                if self._ceiling is None or now - self._ceiling[0] > 2.0:
                    self._ceiling = (now, self.estimate)
                received: float = feedback.recv_bps
                if self._stalled:
                    # What arrived was counted by a stalled loop, or sent by one: a cut
                    # takes at most 30 % (b, traced: 183 → 53 kbit/s in one cut).
                    received = max(received, 0.7 / 0.85 * self.estimate)
                self.estimate = min(self.estimate, 0.85 * received)
                self.startup = False
            # The far end watches the queue, so growth need not be paced by what we send;
            # while the encoder fills what it is given, growth stays within reach of what
            # arrived (GCC's 1.5 × acknowledged + 10 kbit/s). Only growth: the first second
            # of a new connection has received little and must not pull the estimate down.
            # An encoder that undershoots (an easy scene) is not held back by it.
            filling = bool(video_sent_bps and video_sent_bps >= 0.8 * self._last_video_bps)
            if filling and self.estimate > before:
                self.estimate = max(before, min(self.estimate, 1.5 * feedback.recv_bps + 10_000))
        elif sent_bps and self.loss is not None and self.loss >= 0.02:
            # Never more than a step above what actually went out (GCC bounds its loss-based
            # estimate by the acknowledged rate the same way): growth is paced by sending,
            # not by the clock, so a 96 kbit/s link is probed, not flooded. Only on a lossy
            # link: on a clean one an easy scene undershoots and would never climb, and a
            # queue there shows up as loss at once. What we asked the encoder for counts
            # too (all of it: with the 10 % margin taken off, 1.15 × asked met the estimate
            # at ~133 kbit/s and held link b at 160×120 for the first ten seconds).
            asked = self._last_video_bps + self.audio_total_bps(self.estimate)
            self.estimate = min(
                self.estimate, max(1.15 * max(sent_bps, asked), self.start_estimate)
            )

    def _cpu_limit(self, now: float, target: int, cpu_busy: float) -> int:
        """``target`` limited by what the CPU keeps up with (see ``CPU_BUSY_HOLD``)."""
        if cpu_busy < CPU_BUSY_CLEAR:
            self.cpu_cap, self._cpu_short_since = None, None
        elif cpu_busy >= CPU_BUSY_SHED:
            if self._cpu_short_since is None:
                self._cpu_short_since = now
            elif now - self._cpu_short_since >= CPU_SHED_AFTER_S and self.rung < CPU_FLOOR_RUNG:
                self.cpu_cap, self._cpu_short_since = self.rung + 1, now
        else:
            self._cpu_short_since = None
        if cpu_busy >= CPU_BUSY_HOLD and target < self.rung:
            target = max(target, min(self.rung, CPU_FLOOR_RUNG))
        if self.cpu_cap is not None and target < self.cpu_cap:
            target = self.cpu_cap
        return target

    def _choose_rung(self, now: float, target: int, video_budget: float, view: _QueueView) -> None:
        """Move towards ``target`` with hysteresis (see the module docstring)."""
        if target > self.rung:  # worse
            self._good_since = None
            self._bad_count += 1
            far_below = video_budget < 0.6 * LADDER[self.rung].min_kbps * 1000
            if self.forced_audio_only or far_below or self._bad_count >= 2:
                if self._last_up_at is not None and now - self._last_up_at < self.probe_window:
                    self.up_hold = min(self.max_up_hold, self.up_hold * 2)
                self.rung = target
                self._bad_count = 0
                self.startup = False
        elif target < self.rung and view.crowded:
            # Better on paper, but a queue is there, so more video would only fill it (the
            # 96 kbit/s link flooded this way).
            self._bad_count = 0
            self._good_since = None
        elif target < self.rung:  # better
            self._bad_count = 0
            if self._good_since is None:
                self._good_since = now
            elif now - self._good_since >= (self.startup_up_hold if self.startup else self.up_hold):
                # During the first climb with the far end seeing no queue, straight to the
                # rung the estimate allows; later one rung at a time.
                self.rung = target if self.startup and view.measured else self.rung - 1
                self._good_since = now
                self._last_up_at = now
        else:
            self._bad_count = 0
            self._good_since = None
            if self._last_up_at is not None and now - self._last_up_at > 4 * self.probe_window:
                self.up_hold = max(self.base_up_hold, self.up_hold / 2)
