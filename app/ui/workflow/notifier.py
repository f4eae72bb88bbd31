"""Notifications in the app and in the system tray: a new request in my worklist, accepted or
declined, a call time proposed or about to start, a report signed. They are derived from the
synced records (``app.consult.notifications``), so they still arrive after a spell offline;
each is shown once (remembered in the user's cache)."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QStyle, QSystemTrayIcon, QToolButton, QWidget

from app.ui.bridge import run_in_worker
from app.ui.workflow.record_text import utc_date_text

log = logging.getLogger(__name__)


def notification_text(n: Any, patient_name: str = "") -> str:
    """One line in the user's language (who did what, for which patient)."""
    p = dict(n.params or {})
    who = n.by_name or QCoreApplication.translate("Notifier", "The other side")
    texts = {
        "submit": QCoreApplication.translate("Notifier", "New request from {who}"),
        "accept": QCoreApplication.translate("Notifier", "{who} accepted the request"),
        "decline": QCoreApplication.translate("Notifier", "{who} declined the request: {reason}"),
        "propose_time": QCoreApplication.translate("Notifier", "{who} proposed a call at {time}"),
        "confirm_time": QCoreApplication.translate(
            "Notifier", "{who} confirmed the call at {time}"
        ),
        "withdraw": QCoreApplication.translate("Notifier", "{who} withdrew the request: {reason}"),
        "assign": QCoreApplication.translate("Notifier", "{who} assigned the request to you"),
        "start_call": QCoreApplication.translate("Notifier", "{who} started the video call"),
        "report": QCoreApplication.translate("Notifier", "{who} filed the report"),
        "report_signed": QCoreApplication.translate("Notifier", "{who} signed the report"),
        "call_soon": QCoreApplication.translate("Notifier", "The video call starts at {time}"),
    }
    text = texts.get(n.kind, QCoreApplication.translate("Notifier", "The consultation changed"))
    text = text.format(
        who=who, reason=p.get("reason", ""), time=utc_date_text(p.get("time", "")) or ""
    )
    return f"{patient_name}：{text}" if patient_name else text


class Notifier(QObject):
    """Watches record changes; shows what is new in the tray and in the window's bell menu."""

    shown = Signal(str, str)  # consultation id, text

    def __init__(self, context: Any, window: Any = None) -> None:
        super().__init__(window)
        self.context = context
        self.window = window
        self.recent: list[tuple[str, str]] = []  # (consultation id, text), newest first
        self._busy = False
        self._again = False
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            icon = QWidget().style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
            self.tray = QSystemTrayIcon(icon, self)
            self.tray.setToolTip(QCoreApplication.translate("Notifier", "YiQiao"))
            self.tray.messageClicked.connect(self._open_latest)
            self.tray.show()
        self.button = QToolButton()
        self.button.setObjectName("notifications")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self.button)
        self.button.setMenu(self.menu)
        self._label()
        if window is not None and hasattr(window, "statusBar"):
            window.statusBar().addPermanentWidget(self.button)
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(300)
        self.debounce.timeout.connect(self.check)
        context.on_change(self._on_context)

    def _label(self) -> None:
        self.button.setText(
            QCoreApplication.translate("Notifier", "Notifications ({n})").format(n=len(self.recent))
        )

    def _on_context(self, topic: str) -> None:
        # Coalesce a burst, but never postpone past one interval: restarting the timer on
        # every change would starve the check while a sync keeps changing records.
        if topic in ("records", "sync") and not self.debounce.isActive():
            self.debounce.start()

    def check(self) -> None:
        """Look for new notifications off the GUI thread."""
        session = self.context.services.get("sync")
        me = self.context.user
        if session is None or me is None:
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        from app.consult.notifications import NotificationTracker

        def work() -> list[tuple[str, str]]:
            out = []
            # new() has marked these shown: each must reach the user even if its patient's
            # name cannot be read right now (the cache busy with a sync, say).
            for n in NotificationTracker(session.store.cache).new(session.store, me):
                try:
                    patient = session.store.get(n.patient_id) if n.patient_id else None
                    name = str(patient.fields.get("name", "")) if patient is not None else ""
                except Exception:  # noqa: BLE001 - shown without the name rather than lost
                    log.exception("notification %s: patient name unavailable", n.key)
                    name = ""
                out.append((n.consultation_id, notification_text(n, name)))
            return out

        def done(items: list[tuple[str, str]]) -> None:
            for cid, text in items:
                self.show(cid, text)
            self._check_finished()

        def failed(exc: BaseException) -> None:
            log.warning("checking for notifications failed: %s", exc)
            self._check_finished()

        run_in_worker(work, on_done=done, on_error=failed)

    def _check_finished(self) -> None:
        self._busy = False
        if self._again:  # a change arrived meanwhile: look again
            self._again = False
            self.debounce.start()

    def show(self, consultation_id: str, text: str) -> None:
        """One notification: tray balloon, bell menu, status bar."""
        self.recent.insert(0, (consultation_id, text))
        del self.recent[30:]
        menu = self.menu
        action = QAction(text, menu)
        action.triggered.connect(lambda _=False, cid=consultation_id: self.open_case(cid))
        if menu.actions():
            menu.insertAction(menu.actions()[0], action)  # newest first
        else:
            menu.addAction(action)
        self._label()
        if self.tray is not None:
            self.tray.showMessage(
                QCoreApplication.translate("Notifier", "YiQiao"),
                text,
                QSystemTrayIcon.MessageIcon.Information,
                10_000,
            )
        if self.window is not None and hasattr(self.window, "flash"):
            self.window.flash(text, 10_000)
        self.shown.emit(consultation_id, text)

    def open_case(self, consultation_id: str) -> None:
        if self.window is not None and hasattr(self.window, "open_case"):
            self.window.open_case(consultation_id)

    def _open_latest(self) -> None:
        if self.recent:
            self.open_case(self.recent[0][0])


def install_notifications(context: Any, window: Any) -> Notifier:
    """Create the notifier for the main window (once)."""
    notifier = Notifier(context, window)
    context.services["notifier"] = notifier
    return notifier
