"""A GUI stall says whose it was: the thread's own CPU, a run queue, or asleep (GIL/lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.ui.stall_monitor import GuiStallMonitor, Stall, run_queue_wait_s

LINUX_SCHEDSTAT = Path("/proc/thread-self/schedstat").exists()


@pytest.mark.parametrize(
    ("cpu", "queued", "cause"),
    [
        (0.20, 0.01, "cpu"),  # the GUI thread computed through the gap
        (0.01, 0.20, "queue"),  # runnable, but another process had the core
        (0.01, 0.01, "asleep"),  # waiting: GIL, lock or idle (the stack says which)
        (0.05, 0.08, "mixed"),
        (0.01, None, "unknown"),  # the OS does not say (Windows, macOS)
    ],
)
def test_a_stall_is_classified_by_where_its_time_went(cpu, queued, cause) -> None:
    stall = Stall(at=0.0, gap_s=0.25, gui_cpu_s=cpu, where="", queued_s=queued)
    assert stall.cause == cause
    assert stall.as_dict()["cause"] == cause


def _cpu_ran_s(pid: int) -> float:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


@pytest.mark.skipif(not LINUX_SCHEDSTAT, reason="run-queue wait is read from Linux's schedstat")
def test_a_thread_sharing_its_core_with_a_busy_process_is_seen_waiting_in_the_queue() -> None:
    core = sorted(os.sched_getaffinity(0))[0]
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(hog.pid, {core})
        deadline = time.monotonic() + 30
        while _cpu_ran_s(hog.pid) < 0.05:  # the hog is spinning before we measure
            assert time.monotonic() < deadline, "the busy process never ran"
        result: dict[str, float] = {}

        def compete_for_the_core() -> None:
            os.sched_setaffinity(0, {core})  # this thread only (Linux: 0 is the caller)
            cpu0, queued0 = time.thread_time(), run_queue_wait_s()
            while time.thread_time() - cpu0 < 0.3:
                pass
            queued1 = run_queue_wait_s()
            assert queued0 is not None and queued1 is not None
            result["queued"] = queued1 - queued0

        worker = threading.Thread(target=compete_for_the_core)
        worker.start()
        worker.join()
    finally:
        hog.kill()
        hog.wait()
    # Sharing one core fairly, the thread waited about as long as it ran (0.3 s).
    assert result["queued"] >= 0.1, result


@pytest.mark.skipif(not LINUX_SCHEDSTAT, reason="run-queue wait is read from Linux's schedstat")
def test_the_monitor_never_calls_a_busy_gui_thread_asleep(qtbot) -> None:
    monitor = GuiStallMonitor(None, interval_ms=10, report_over_s=0.1)
    monitor.start()
    qtbot.waitUntil(lambda: monitor.max_gap_s > 0, timeout=10_000)
    began = time.thread_time()
    while time.thread_time() - began < 0.25:  # the GUI thread computes, no ticks
        pass
    qtbot.waitUntil(lambda: bool(monitor.stalls), timeout=10_000)
    stall = max(monitor.take_stalls(), key=lambda s: s.gui_cpu_s)
    assert stall.gui_cpu_s >= 0.25
    # Never asleep: the gap was the thread's CPU, plus the queue if the machine is loaded.
    assert stall.queued_s is not None and stall.asleep_s is not None
    assert stall.asleep_s < 0.5 * stall.gap_s, stall
    assert stall.cause in ("cpu", "queue", "mixed"), stall
