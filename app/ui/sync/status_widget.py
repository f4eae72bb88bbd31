"""Sync state in the status bar: what is left, how fast, when it last worked, "Sync now"."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from app.sync.status import SyncStatus
from app.ui.bridge import call_on_gui, run_in_worker


def human_bytes(n: float) -> str:
    """1.2 MB style sizes."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class SyncStatusWidget(QWidget):
    """A label naming the sync state in words a doctor can act on, and a "Sync now" button."""

    status_arrived = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine: Any = None
        self.last: SyncStatus | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(self.tr("Sync: not signed in"))
        self.label.setObjectName("syncStatus")
        self.button = QPushButton(self.tr("Sync now"))
        self.button.setEnabled(False)
        self.button.clicked.connect(self.sync_now)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.status_arrived.connect(self.show_status)
        self.timer = QTimer(self)
        self.timer.setInterval(2000)
        self.timer.timeout.connect(self.poll)
        self._polling = False

    def set_engine(self, engine: Any) -> None:
        """Follow ``engine`` (a ``SyncEngine``), or nothing when None."""
        self.engine = engine
        self.button.setEnabled(engine is not None)
        if engine is None:
            self.timer.stop()
            self.label.setText(self.tr("Sync: not signed in"))
            self.label.setStyleSheet("")
            return
        engine.on_status(lambda status: call_on_gui(self._deliver, engine, status))
        self.timer.start()
        self.poll()

    def _deliver(self, engine: Any, status: SyncStatus) -> None:
        if engine is self.engine:
            self.show_status(status)

    def poll(self) -> None:
        """Refresh the figures off the GUI thread (they come from the cache)."""
        if self.engine is None or self._polling:
            return
        self._polling = True
        engine = self.engine

        def done(status: SyncStatus) -> None:
            self._polling = False
            self._deliver(engine, status)

        def failed(_exc: BaseException) -> None:
            self._polling = False

        run_in_worker(engine.status, on_done=done, on_error=failed)

    def sync_now(self) -> None:
        """The "Sync now" button."""
        if self.engine is not None:
            self.engine.sync_now()
            self.label.setText(self.tr("Syncing…"))

    def describe(self, s: SyncStatus) -> tuple[str, bool]:
        """The label text and whether it is a problem."""
        if s.state == "offline":
            text, bad = (
                self.tr("Offline — your changes are kept and will sync when the link returns"),
                True,
            )
        elif s.state == "login_refused":
            text, bad = self.tr("The hub refused your login — please sign in again"), True
        elif s.state == "tls_untrusted":
            text, bad = self.tr("The hub's certificate is not trusted — contact IT"), True
        elif s.state == "server_error":
            text, bad = self.tr("Hub server error — retrying automatically"), True
        elif s.state == "syncing" or s.docs_remaining or s.bytes_remaining:
            text = self.tr("Syncing: {docs} records and {size} left").format(
                docs=s.docs_remaining, size=human_bytes(s.bytes_remaining)
            )
            if s.throughput_bps:
                text += self.tr(" at {rate}/s").format(rate=human_bytes(s.throughput_bps))
            bad = False
        else:
            text, bad = self.tr("All records synced"), False
        if s.last_success:
            text += self.tr(" · last sync {time}").format(
                time=time.strftime("%H:%M", time.localtime(s.last_success))
            )
        if s.conflicts:
            text += self.tr(" · {n} conflicts to resolve").format(n=s.conflicts)
            bad = True
        if s.errors:
            text += self.tr(" · {n} records refused by the hub").format(n=s.errors)
            bad = True
        return text, bad

    def show_status(self, status: SyncStatus) -> None:
        """Show a status snapshot."""
        self.last = status
        text, bad = self.describe(status)
        self.label.setText(text)
        self.label.setToolTip(status.message)
        self.label.setStyleSheet("color: #b00020;" if bad else "")
