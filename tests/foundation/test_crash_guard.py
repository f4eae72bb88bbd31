"""A native crash or a stuck GUI thread leaves a trace in the log, and the next start says so."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from app.crash_guard import CrashGuard, read_previous_session

ROOT = Path(__file__).resolve().parents[2]


def _run_child(code: str, log_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from app.logging_setup import setup_logging
        from app.crash_guard import install_crash_guard
        log_file = setup_logging("INFO", Path({str(log_dir)!r}))
        guard = install_crash_guard(log_file, stuck_after_s=0.5)
        """
    ) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout
    )


def test_a_native_crash_writes_every_thread_stack_into_the_log(tmp_path: Path) -> None:
    done = _run_child(
        """
        import ctypes
        def decode_in_native_code():
            ctypes.string_at(0)  # SIGSEGV, as a crash inside FFmpeg would be
        decode_in_native_code()
        """,
        tmp_path,
    )
    assert done.returncode != 0
    log = (tmp_path / "yiqiao.log").read_text(encoding="utf-8")
    assert "Segmentation fault" in log
    assert "decode_in_native_code" in log  # the Python stack of the crashing thread
    previous = read_previous_session(tmp_path / "session.running")
    assert previous is not None and not previous.hung


def test_a_stuck_gui_thread_gets_its_stack_dumped_and_marks_the_session(tmp_path: Path) -> None:
    done = _run_child(
        """
        import threading, time
        stuck = threading.Event()
        def gui_thread():
            guard.watch_gui()
            guard.beat()
            wait_for_a_lock_that_never_comes()
        def wait_for_a_lock_that_never_comes():
            threading.Event().wait(30)  # a deadlock, as the frame converter's
        threading.Thread(target=gui_thread, daemon=True).start()
        deadline = time.monotonic() + 30
        while guard.hang_dumps == 0 and time.monotonic() < deadline:
            threading.Event().wait(0.05)
        print("dumps", guard.hang_dumps)
        import os
        os._exit(3)  # killed while hanging: no clean exit
        """,
        tmp_path,
    )
    assert "dumps 1" in done.stdout, done.stderr
    log = (tmp_path / "yiqiao.log").read_text(encoding="utf-8")
    assert "the GUI thread has not responded" in log
    assert "wait_for_a_lock_that_never_comes" in log  # every thread's stack, the GUI's too
    previous = read_previous_session(tmp_path / "session.running")
    assert previous is not None and previous.hung


def test_a_clean_exit_leaves_no_marker(tmp_path: Path) -> None:
    guard = CrashGuard(tmp_path / "yiqiao.log", fault_log=False)
    assert guard.previous is None
    assert guard.marker.exists()
    guard.close_cleanly()
    assert not guard.marker.exists()
    assert CrashGuard(tmp_path / "yiqiao.log", fault_log=False).previous is None


def test_a_running_instance_is_not_taken_for_a_crash(tmp_path: Path) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        marker = tmp_path / "session.running"
        marker.write_text(f'{{"pid": {other.pid}, "started": {time.time()}, "hung": false}}')
        assert read_previous_session(marker) is None
    finally:
        other.communicate(b"")
    assert read_previous_session(marker) is not None  # it is gone now without cleaning up


def test_next_start_offers_export_diagnostics_in_chinese(qtbot, tmp_path, monkeypatch) -> None:
    from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

    from app.config import load_settings
    from app.context import AppContext
    from app.crash_guard import PreviousSession
    from app.ui.app import ClientController
    from app.ui.i18n import install_translators

    install_translators("zh_CN")
    try:
        context = AppContext(settings=load_settings(registry={}))
        controller = ClientController(QApplication.instance(), context)
        qtbot.addWidget(controller.window)
        exported: list[bool] = []
        monkeypatch.setattr(controller.window, "export_diagnostics", lambda: exported.append(True))
        box = controller.offer_diagnostics(PreviousSession(pid=1, started=0.0, hung=True))
        assert isinstance(box, QMessageBox) and box.isVisible()
        assert "YiQiao" in box.text() and "stopped responding" not in box.text()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in box.text())  # translated
        button = box.findChild(QPushButton, "export_diagnostics")
        assert button is not None and "诊断" in button.text()
        button.click()
        assert exported == [True]
    finally:
        install_translators("en")
