"""Leave a trace when the app dies or hangs, and notice it at the next start.

- ``faulthandler`` writes the Python stack of every thread into the log file on a fatal
  signal (SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE): a native crash in FFmpeg, libvpx or Qt
  no longer ends the app "with no message and nothing in its log".
- A watchdog thread watches the GUI thread's heartbeat (``beat()``, from a Qt timer): stuck
  for ``stuck_after_s`` (5 s) it writes every thread's stack into the log, once per hang. If
  the GUI thread holds the GIL so that no Python thread can run, faulthandler's own C thread
  (re-armed by the watchdog) dumps the stacks a few seconds later.
- A marker file exists while the app runs and is removed on a clean exit; finding it at the
  next start means the last session ended abnormally (crash, hang killed by the user, power
  loss), and the app offers to export diagnostics.

Qt-free: the GUI side is ``app.ui.stall_monitor``.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import logging
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

MARKER_NAME = "session.running"


@dataclass
class PreviousSession:
    """What the marker of a session that did not end cleanly says."""

    pid: int
    started: float
    hung: bool  # the watchdog saw the GUI thread stuck before it ended


def _pid_alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    if sys.platform == "win32":  # pragma: no cover - no Windows here
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)
        if handle:
            ctypes.windll.kernel32.CloseHandle(handle)
            return True
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_previous_session(marker: Path) -> PreviousSession | None:
    """The session that left ``marker`` behind, unless it is still running."""
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        previous = PreviousSession(int(data["pid"]), float(data["started"]), bool(data["hung"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return PreviousSession(0, 0.0, False)  # unreadable marker: still not a clean exit
    if _pid_alive(previous.pid):
        return None  # another instance is running: its marker, not a crash
    return previous


class CrashGuard:
    """faulthandler into the log, the GUI watchdog and the session marker."""

    def __init__(
        self,
        log_file: Path,
        marker: Path | None = None,
        stuck_after_s: float = 5.0,
        check_every_s: float = 0.25,
        fault_log: bool = True,
    ) -> None:
        self.log_file = log_file
        self.marker = marker or log_file.parent / MARKER_NAME
        self.previous = read_previous_session(self.marker)
        self.stuck_after_s = stuck_after_s
        self.check_every_s = check_every_s
        self.started = time.time()
        self.hung = False
        self.hang_dumps = 0
        self._fault_file: IO[str] | None = None
        self._last_beat = time.monotonic()
        self._gui_ident: int | None = None
        self._dumped_for: float | None = None  # the beat whose hang was dumped
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sample: tuple[float, str] | None = None  # (when, where the GUI thread was)
        self.sample_after_s = 0.0  # >0: sample the GUI stack when a beat is this late
        self._write_marker()
        if fault_log:  # process-wide: only the app's own guard (tests of the marker skip it)
            self.reopen_log()

    # ---- faulthandler ------------------------------------------------------------------

    def reopen_log(self) -> None:
        """(Re)point faulthandler at the log file (after a rotation renamed it)."""
        old, self._fault_file = self._fault_file, open(self.log_file, "a", encoding="utf-8")  # noqa: SIM115
        faulthandler.enable(file=self._fault_file, all_threads=True)
        if old is not None:
            old.close()

    # ---- session marker ----------------------------------------------------------------

    def _write_marker(self) -> None:
        data = {"pid": os.getpid(), "started": self.started, "hung": self.hung}
        try:
            self.marker.parent.mkdir(parents=True, exist_ok=True)
            self.marker.write_text(json.dumps(data), encoding="utf-8")
        except OSError as exc:
            log.warning("cannot write the session marker %s: %s", self.marker, exc)

    def close_cleanly(self) -> None:
        """A normal exit: stop watching and remove the marker."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
        faulthandler.cancel_dump_traceback_later()
        with contextlib.suppress(OSError):
            self.marker.unlink()

    # ---- GUI watchdog ------------------------------------------------------------------

    def watch_gui(self) -> None:
        """Start watching the calling (GUI) thread; it must call ``beat()`` regularly."""
        self._gui_ident = threading.get_ident()
        self._last_beat = time.monotonic()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gui-watchdog", daemon=True)
            self._thread.start()

    def beat(self) -> None:
        """The GUI thread is alive (called from its event loop)."""
        self._last_beat = time.monotonic()

    def take_sample(self, since: float) -> str:
        """Where the GUI thread was when sampled during a stall that began at ``since``."""
        sample = self._sample
        return sample[1] if sample is not None and sample[0] >= since else ""

    def _run(self) -> None:
        armed = 0.0
        while not self._stop.wait(self._poll_s()):
            beat = self._last_beat
            late = time.monotonic() - beat
            # Backstop for a GUI thread that holds the GIL (this thread then cannot run):
            # faulthandler's C thread fires unless we re-arm it in time.
            now = time.monotonic()
            if self._fault_file is not None and now - armed >= 1.0:
                armed = now  # each arming starts a C thread: once a second is plenty
                faulthandler.dump_traceback_later(
                    self.stuck_after_s * 3, repeat=False, file=self._fault_file, exit=False
                )
            if self.sample_after_s and late >= self.sample_after_s:
                self._sample = (beat, self._gui_stack())
            if late >= self.stuck_after_s and self._dumped_for != beat:
                self._dumped_for = beat
                self._dump_hang(late)

    def _poll_s(self) -> float:
        if self.sample_after_s:  # catch stalls of that length while they last
            return min(self.check_every_s, self.sample_after_s / 4)
        return self.check_every_s

    def _gui_stack(self) -> str:
        frame = sys._current_frames().get(self._gui_ident or -1)
        if frame is None:
            return ""
        lines = traceback.format_stack(frame, limit=12)
        return "".join(lines[-6:])

    def _dump_hang(self, late: float) -> None:
        if not self.hung:
            self.hung = True
            self._write_marker()
        log.error("the GUI thread has not responded for %.1f s; stacks of all threads:", late)
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        if self._fault_file is not None:
            self._fault_file.write(f"--- GUI thread stuck for {late:.1f} s ---\n")
            self._fault_file.flush()
            faulthandler.dump_traceback(file=self._fault_file, all_threads=True)
            self._fault_file.flush()
        self.hang_dumps += 1  # counted once written (a test exits as soon as it sees it)


_guard: CrashGuard | None = None


def install_crash_guard(log_file: Path, stuck_after_s: float = 5.0) -> CrashGuard:
    """The process's one ``CrashGuard`` (created on first call)."""
    global _guard
    if _guard is None:
        _guard = CrashGuard(log_file, stuck_after_s=stuck_after_s)
    return _guard


def crash_guard() -> CrashGuard | None:
    """The installed guard, if any."""
    return _guard
