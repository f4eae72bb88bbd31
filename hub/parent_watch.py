"""Stop the hub when the process that started it is gone (the embedded demo hub).

A desktop client killed from the task manager cannot stop its child; without this the demo
hub would keep running, holding its port and data folder.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable


def _wait_windows(pid: int) -> None:
    import ctypes

    synchronize, infinite = 0x00100000, 0xFFFFFFFF
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(synchronize, False, pid)
    if not handle:
        return  # already gone
    try:
        kernel32.WaitForSingleObject(handle, infinite)
    finally:
        kernel32.CloseHandle(handle)


def _wait_posix(pid: int, interval: float) -> None:
    while True:
        # Re-parenting (to init or a subreaper) means our parent died, even if its pid is reused.
        if os.getppid() != pid:
            return
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass  # exists, owned by someone else: keep waiting
        time.sleep(interval)


def watch_parent(pid: int, on_gone: Callable[[], None], interval: float = 1.0) -> threading.Thread:
    """Call ``on_gone`` (from a daemon thread) once process ``pid`` has exited."""

    def run() -> None:
        if sys.platform == "win32":
            _wait_windows(pid)
        else:
            _wait_posix(pid, interval)
        on_gone()

    thread = threading.Thread(target=run, name="parent-watch", daemon=True)
    thread.start()
    return thread
