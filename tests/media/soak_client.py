"""One real YiQiao client in its own process, driven over stdin/stdout by the call soak.

``python -m tests.media.soak_client --hub URL --user NAME --home DIR [--answer]``

It builds the real application (``ClientController``: main window, sync, the Call page with
its ``CallService``, preview and remote ``VideoView``s), signs in against the hub, and then
obeys one-line commands on stdin: ``call <consultation id>``, ``hangup``, ``screenshot
<png path>``, ``trim`` (collect garbage, give freed heap back to the system, then report), ``census`` (live Python
objects by type), ``quit``. With
``--answer`` an incoming call is accepted through the incoming-call dialog. While a call is
active the statistics panel is open and a chat line is sent every two seconds.

Every second it prints one JSON line (``{"event": "status", ...}``): call phase, frames
painted by each video view, chat lines received, resident memory, and the GUI thread's
stalls as measured by the product's own ``GuiStallMonitor`` (tick gaps, with how much CPU the
GUI thread itself spent in each gap and where it was).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import threading
import time
from typing import Any


def _rss_mb() -> float:
    from app.native_heap import resident_bytes

    return resident_bytes() / 1e6


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _heap() -> dict[str, float]:
    """Where the resident memory is: glibc's heap (in use / free inside it / mmapped), Python's
    own allocator, threads — to tell a leak (in use grows) from fragmentation (free grows)."""
    out: dict[str, float] = {
        "py_blocks": sys.getallocatedblocks(),
        "threads": threading.active_count(),
    }
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return out
    out.update(
        heap_used_mb=round(info.uordblks / 1e6, 1),
        heap_free_mb=round(info.fordblks / 1e6, 1),
        heap_mmap_mb=round(info.hblkhd / 1e6, 1),
    )
    return out


def _census() -> dict[str, int]:
    """How many Python objects of each type are alive (the 40 commonest)."""
    import collections
    import gc

    gc.collect()  # what is garbage is not kept
    counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    return dict(counts.most_common(40))


def _trim() -> None:
    import gc

    from app.native_heap import trim

    gc.collect()  # on the GUI thread, where the app's collector runs
    trim()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--answer", action="store_true")
    args = parser.parse_args(argv)
    os.environ["YIQIAO_HOME"] = args.home
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QObject, QTimer, Signal
    from PySide6.QtWidgets import QApplication

    from app.config import load_settings
    from app.context import AppContext
    from app.crash_guard import install_crash_guard
    from app.credentials import use_memory_keyring
    from app.logging_setup import setup_logging
    from app.sync.hub_client import HubClient
    from app.ui.app import ClientController
    from app.ui.gui_gc import install_gui_thread_collector
    from app.ui.stall_monitor import GuiStallMonitor
    from hub.demo import DEMO_PASSWORD

    use_memory_keyring()  # the local records (patient shown in the call) need a keyring
    log_file = setup_logging("INFO")
    guard = install_crash_guard(log_file)
    app = QApplication.instance() or QApplication([])
    install_gui_thread_collector(app)
    monitor = GuiStallMonitor(guard, report_over_s=0.1)
    monitor.start()
    context = AppContext(settings=load_settings(registry={}), hub_url=args.hub)
    controller = ClientController(app, context)
    controller.window.resize(1000, 700)
    controller.window.show()

    def emit(**fields: Any) -> None:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()

    class Commands(QObject):
        line = Signal(str)

    commands = Commands()
    state: dict[str, Any] = {"phase": "idle", "media": "", "chat_sent": 0, "calls": 0}

    client = HubClient(args.hub)
    tokens = client.login(args.user, DEMO_PASSWORD)
    context.services["hub_client"] = client
    context.user = tokens.user
    context.changed("user")

    def page() -> Any:
        return controller.window._pages.get("call")

    def on_event(event: Any) -> None:
        call_page = page()
        if event.kind == "phase" and event.phase is not None:
            state["phase"] = event.phase.value
            if event.phase.value == "active":
                state["calls"] += 1
                call_page.call_widget.stats_button.setChecked(True)
        elif event.kind == "incoming" and args.answer:
            # Answer through the dialog the user would click, once it shows the patient.
            asked = time.monotonic()

            def answer() -> None:
                dialog = call_page._ringing
                if dialog is None:
                    return
                if "…" in dialog.patient.text() and time.monotonic() - asked < 10:
                    QTimer.singleShot(100, answer)
                    return
                state["incoming_patient"] = dialog.patient.text()
                state["incoming_purpose"] = dialog.purpose.text()
                dialog.accept()

            QTimer.singleShot(0, answer)
        elif event.kind == "media" and event.media is not None and event.media.kind == "state":
            state["media"] = event.media.state.value
        elif event.kind == "media" and event.media is not None and event.media.kind == "stats":
            stats = event.media.stats
            state["link"] = {
                "rung": stats.rung,
                "recv_fps": round(stats.recv_fps or 0, 1),
                "send_fps": round(stats.send_fps or 0, 1),
                "recv_size": list(stats.recv_size or ()),
                "rtt_ms": round((stats.rtt_s or 0) * 1000),
            }

    def hooked() -> bool:
        call_page = page()
        if call_page is None or not call_page.service.online:
            return False
        if not state.get("hooked"):
            state["hooked"] = True
            call_page.service.call_event.connect(on_event)
            emit(event="ready", pid=os.getpid())
        return True

    def chat_tick() -> None:
        call_page = page()
        if call_page is None or state["phase"] != "active" or state["media"] != "connected":
            return
        chat = call_page.call_widget.chat
        chat.entry.setText(f"{args.user} line {state['chat_sent']} 测试")
        chat.entry.returnPressed.emit()
        state["chat_sent"] += 1

    def count_records() -> None:
        from app.ui.bridge import run_in_worker
        from app.ui.sync.wiring import sync_session

        session = sync_session(context)
        if session is not None:
            run_in_worker(session.store.count, on_done=lambda n: state.update(records=n))

    def status() -> None:
        call_page = page()
        widget = call_page.call_widget if call_page is not None else None
        count_records()
        emit(
            event="status",
            phase=state["phase"],
            media=state["media"],
            calls=state["calls"],
            remote_frames=widget.remote.painted if widget else 0,
            preview_frames=widget.preview.painted if widget else 0,
            chat_sent=state["chat_sent"],
            chat_lines=widget.chat.messages.count() if widget else 0,
            rss_mb=round(_rss_mb(), 1),
            heap=_heap(),
            stalls=[s.as_dict() for s in monitor.take_stalls()],
            max_gap_ms=round(monitor.max_gap_s * 1000),
            link=state.get("link", {}),
            records=state.get("records", 0),
            patient=widget.patient.text() if widget else "",
            remote_caption=widget.remote.caption if widget else "",
            incoming_patient=state.get("incoming_patient", ""),
            incoming_purpose=state.get("incoming_purpose", ""),
        )

    def on_line(line: str) -> None:
        parts = line.split()
        if not parts:
            return
        call_page = page()
        if parts[0] == "call" and call_page is not None:
            call_page.service.call(parts[1])
        elif parts[0] == "hangup" and call_page is not None:
            call_page.service.hangup()
        elif parts[0] == "screenshot" and len(parts) > 1:
            controller.window.grab().save(parts[1])
            emit(event="screenshot", path=parts[1])
        elif parts[0] == "trim":
            _trim()
            emit(event="trimmed", rss_mb=round(_rss_mb(), 1), heap=_heap())
        elif parts[0] == "census":
            emit(event="census", counts=_census(), py_blocks=sys.getallocatedblocks())
        elif parts[0] == "quit":
            app.quit()

    commands.line.connect(on_line)

    def read_stdin() -> None:
        for raw in sys.stdin:
            commands.line.emit(raw.strip())
        commands.line.emit("quit")

    threading.Thread(target=read_stdin, daemon=True, name="soak-stdin").start()
    ready = QTimer()
    ready.timeout.connect(hooked)
    ready.start(100)
    chatter = QTimer()
    chatter.timeout.connect(chat_tick)
    chatter.start(2000)
    reporter = QTimer()
    reporter.timeout.connect(status)
    reporter.start(1000)
    started = time.monotonic()
    code = app.exec()
    emit(event="exit", code=code, uptime_s=round(time.monotonic() - started, 1))
    guard.close_cleanly()
    return code


if __name__ == "__main__":
    sys.exit(main())
