"""The GUI thread's heartbeat: feeds the crash guard's watchdog and measures stalls.

A Qt timer ticks every ``interval_ms``; a gap between two ticks longer than
``report_over_s`` is a stall. Each stall records how much CPU the GUI thread itself spent
in the gap (``thread_time``) and, when the watchdog sampled it, where it was: on a loaded
machine a long gap with almost no GUI CPU and the thread idle in Qt's event loop is the
scheduler's doing, a gap full of GUI CPU or with the thread inside our code is ours.

Where Linux tells (``/proc/thread-self/schedstat``), a stall also records how long the
thread was runnable but waiting for a core (``queued_s``). What is neither CPU nor queue
was asleep: idle in the event loop, or waiting for the GIL or a lock — the sampled stack
tells which. That separates "another process had the core" from "another of our threads
had the GIL", which CPU time alone cannot.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from app.crash_guard import CrashGuard

log = logging.getLogger(__name__)

_SCHEDSTAT = Path("/proc/thread-self/schedstat")


def run_queue_wait_s() -> float | None:
    """Seconds the calling thread has spent runnable but not running (None if unknown)."""
    try:
        # Fields: time on CPU, time waiting on a run queue (both ns), timeslices run.
        return int(_SCHEDSTAT.read_bytes().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Stall:
    """One gap between heartbeats."""

    at: float  # monotonic time the gap began
    gap_s: float
    gui_cpu_s: float  # CPU the GUI thread used during the gap
    where: str  # the GUI thread's stack sampled during the gap ("" if not sampled)
    queued_s: float | None = None  # runnable, waiting for a core (None: OS does not say)

    def as_dict(self) -> dict:
        return {**asdict(self), "cause": self.cause}

    @property
    def asleep_s(self) -> float | None:
        """Neither on a CPU nor queued for one: idle, or waiting for the GIL or a lock."""
        if self.queued_s is None:
            return None
        return max(0.0, self.gap_s - self.gui_cpu_s - self.queued_s)

    @property
    def cause(self) -> str:
        """``cpu`` (the GUI thread's own work), ``queue`` (no core free: the scheduler),
        ``asleep`` (waiting: GIL, lock or idle — see ``where``), ``mixed`` or ``unknown``."""
        if self.gui_cpu_s >= 0.5 * self.gap_s:
            return "cpu"
        if self.queued_s is None:
            return "unknown"
        if self.queued_s >= 0.5 * self.gap_s:
            return "queue"
        return "asleep" if (self.asleep_s or 0.0) >= 0.5 * self.gap_s else "mixed"


class GuiStallMonitor(QObject):
    """Heartbeat for ``guard`` and a record of the GUI thread's stalls."""

    def __init__(
        self,
        guard: CrashGuard | None,
        interval_ms: int = 20,
        report_over_s: float = 0.2,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.guard = guard
        self.report_over_s = report_over_s
        self.max_gap_s = 0.0
        self.stalls: list[Stall] = []
        self._last = time.monotonic()
        self._last_cpu = time.thread_time()
        self._last_queued = run_queue_wait_s()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        """Begin ticking (call on the GUI thread)."""
        if self.guard is not None:
            self.guard.sample_after_s = self.report_over_s
            self.guard.watch_gui()
        self._last, self._last_cpu = time.monotonic(), time.thread_time()
        self._last_queued = run_queue_wait_s()
        self._timer.start()

    def _tick(self) -> None:
        now, cpu, queued = time.monotonic(), time.thread_time(), run_queue_wait_s()
        gap = now - self._last
        if gap > self.report_over_s:
            where = self.guard.take_sample(self._last) if self.guard is not None else ""
            was = self._last_queued
            in_queue = None if queued is None or was is None else queued - was
            stall = Stall(self._last, gap, cpu - self._last_cpu, where, in_queue)
            self.stalls.append(stall)
            del self.stalls[:-200]
            if gap >= 1.0:
                log.warning(
                    "GUI thread stalled %.2f s (%.2f s of its own CPU, %s s queued)%s",
                    gap,
                    stall.gui_cpu_s,
                    "?" if in_queue is None else f"{in_queue:.2f}",
                    f" in:\n{where}" if where else "",
                )
        self.max_gap_s = max(self.max_gap_s, gap)
        self._last, self._last_cpu, self._last_queued = now, cpu, queued
        if self.guard is not None:
            self.guard.beat()

    def take_stalls(self) -> list[Stall]:
        """The stalls recorded since the last call."""
        stalls, self.stalls = self.stalls, []
        return stalls
