"""The GUI thread's heartbeat: feeds the crash guard's watchdog and measures stalls.

A Qt timer ticks every ``interval_ms``; a gap between two ticks longer than
``report_over_s`` is a stall. Each stall records how much CPU the GUI thread itself spent
in the gap (``thread_time``) and, when the watchdog sampled it, where it was: on a loaded
machine a long gap with almost no GUI CPU and the thread idle in Qt's event loop is the
scheduler's doing, a gap full of GUI CPU or with the thread inside our code is ours.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

from PySide6.QtCore import QObject, QTimer

from app.crash_guard import CrashGuard

log = logging.getLogger(__name__)


@dataclass
class Stall:
    """One gap between heartbeats."""

    at: float  # monotonic time the gap began
    gap_s: float
    gui_cpu_s: float  # CPU the GUI thread used during the gap
    where: str  # the GUI thread's stack sampled during the gap ("" if not sampled)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def in_our_code(self) -> bool:
        """The GUI thread was busy (CPU) or sampled outside Qt's idle event loop."""
        busy = self.gui_cpu_s >= 0.5 * self.gap_s
        waiting_in_code = bool(self.where) and "exec" not in self.where.strip().splitlines()[-1]
        return busy or waiting_in_code


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
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        """Begin ticking (call on the GUI thread)."""
        if self.guard is not None:
            self.guard.sample_after_s = self.report_over_s
            self.guard.watch_gui()
        self._last, self._last_cpu = time.monotonic(), time.thread_time()
        self._timer.start()

    def _tick(self) -> None:
        now, cpu = time.monotonic(), time.thread_time()
        gap = now - self._last
        if gap > self.report_over_s:
            where = self.guard.take_sample(self._last) if self.guard is not None else ""
            stall = Stall(self._last, gap, cpu - self._last_cpu, where)
            self.stalls.append(stall)
            del self.stalls[:-200]
            if gap >= 1.0:
                log.warning(
                    "GUI thread stalled %.2f s (%.2f s of its own CPU)%s",
                    gap,
                    stall.gui_cpu_s,
                    f" in:\n{where}" if where else "",
                )
        self.max_gap_s = max(self.max_gap_s, gap)
        self._last, self._last_cpu = now, cpu
        if self.guard is not None:
            self.guard.beat()

    def take_stalls(self) -> list[Stall]:
        """The stalls recorded since the last call."""
        stalls, self.stalls = self.stalls, []
        return stalls
