"""The DICOM receiver while the app runs, and its line in the status bar.

``install_dicom_net(context, window)`` (once, at start-up) registers a ``DicomNetService`` as
``context.services["dicom_net"]``. Opening the encrypted inbox (keyring, disk) and binding the
port happen on a worker; the receiver's own threads do all network and disk work. The GUI
thread only polls ``ReceiveActivity.snapshot()`` every 250 ms — one short lock, so a study
arriving at full speed cannot stall it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

from app.context import AppContext
from app.dicom_net.activity import ActivitySnapshot, ReceiveActivity
from app.dicom_net.nodes import local_node, with_key_passphrase
from app.ui.bridge import run_in_worker, run_network
from app.ui.dicom_net.wording import net_error_text

if TYPE_CHECKING:  # pydicom and the crypto stack load when the inbox is first opened
    from app.dicom_net.inbox import Inbox

log = logging.getLogger(__name__)

POLL_MS = 250


class DicomNetService(QObject):
    """Owns the inbox and the receiver; tells widgets when either changes."""

    state_changed = Signal()  # listening / off / error / activity
    inbox_changed = Signal()  # instances were added or matches changed

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.activity = ReceiveActivity()
        self.inbox: Inbox | None = None
        self.receiver: Any = None
        self.state = "off"  # off | starting | listening | stopping | error
        self.error = ""
        self.port = 0
        self.snapshot = ActivitySnapshot()
        self._received = 0
        self._waiting: list[Callable[[Inbox], None]] = []
        self._opening = False
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    # -- inbox --------------------------------------------------------------------------
    def with_inbox(self, fn: Callable[[Inbox], None]) -> None:
        """Call ``fn(inbox)`` on the GUI thread once the inbox is open (opened on a worker)."""
        if self.inbox is not None:
            fn(self.inbox)
            return
        self._waiting.append(fn)
        if self._opening:
            return
        self._opening = True
        from app.dicom_net.inbox import Inbox

        folder = self.context.user_data_dir() / "dicom-inbox"
        run_in_worker(Inbox.open, folder, on_done=self._inbox_opened, on_error=self._failed)

    def _inbox_opened(self, inbox: Inbox) -> None:
        self._opening = False
        self.inbox = inbox
        waiting, self._waiting = self._waiting, []
        for fn in waiting:
            fn(inbox)

    # -- receiver -----------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return bool(self.context.settings.get("dicom_receive_enabled", False))

    def start(self) -> None:
        """Listen when settings say so (no-op when already listening or turned off)."""
        if not self.enabled or self.state in ("starting", "listening", "stopping"):
            return
        self.state = "starting"
        self.state_changed.emit()
        self.with_inbox(self._start_receiver)

    def _start_receiver(self, inbox: Inbox) -> None:
        from app.dicom_net.inbox import inbox_keys
        from app.dicom_net.receiver_process import ReceiverProcess

        node = local_node(self.context.settings)

        def start() -> Any:
            # Its own process: a study arriving at full speed never competes with this window.
            # The TLS key's passphrase goes along in memory (read from the keyring here).
            receiver = ReceiverProcess(
                with_key_passphrase(node), inbox.folder, inbox_keys(), self.activity
            )
            receiver.start()
            return receiver

        def started(receiver: Any) -> None:
            if self.state != "starting":  # turned off while it was starting
                run_network(receiver.stop)
                return
            self.receiver, self.port, self.state, self.error = (
                receiver,
                receiver.port,
                "listening",
                "",
            )
            self.state_changed.emit()

        run_in_worker(start, on_done=started, on_error=self._failed)

    def _failed(self, exc: BaseException) -> None:
        log.error("DICOM receiver: %s", exc)
        self._opening = False
        self.state, self.error = "error", net_error_text(exc)
        self.state_changed.emit()

    def stop(self, wait: bool = True) -> None:
        """Stop listening (the inbox stays open for the page).

        ``wait=False`` lets the receiver process let go of the port on a worker (settings
        changes, the switch); meanwhile the state is "stopping", and once it is "off" the
        receiver starts again if the settings say so by then. At exit the GUI waits, so no
        process is left behind.
        """
        receiver, self.receiver = self.receiver, None
        if receiver is None:
            if self.state != "stopping":
                self.state, self.port = "off", 0
                self.state_changed.emit()
            return
        if wait:
            receiver.stop()
            self.state, self.port = "off", 0
            self.state_changed.emit()
            return
        self.state, self.port = "stopping", 0
        self.state_changed.emit()
        run_network(receiver.stop, on_done=self._stopped, on_error=self._stopped)

    def _stopped(self, _result: Any = None) -> None:
        self.state = "off"
        self.start()  # no-op unless receiving is (again) on
        if self.state == "off":
            self.state_changed.emit()

    def set_enabled(self, on: bool) -> None:
        """Turn receiving on or off (a user setting unless IT's policy locks it)."""
        settings = self.context.settings
        if settings.is_locked("dicom_receive_enabled"):
            return
        settings.set_user("dicom_receive_enabled", on)
        run_in_worker(settings.save)
        if on:
            self.start()
        else:
            self.stop(wait=False)

    def restart(self) -> None:
        """Apply changed settings (AE title, port, callers): the old process lets go of the
        port on a worker, then the new one starts."""
        if self.receiver is None and self.state != "stopping":
            self.state = "off"
            self.start()
            return
        self.stop(wait=False)

    def shutdown(self) -> None:
        """At exit: stop listening and close the inbox."""
        self.timer.stop()
        self.stop()
        if self.inbox is not None:
            self.inbox.close()
            self.inbox = None

    # -- polling ------------------------------------------------------------------------
    def _poll(self) -> None:
        failure: str = getattr(self.receiver, "failure", "") or ""
        if failure:  # the receiver process died: say so (a settings change restarts it)
            self.receiver = None
            self.state, self.error, self.port = "error", failure, 0
            self.state_changed.emit()
        snap = self.activity.snapshot()
        if snap.generation == self.snapshot.generation:
            return
        self.snapshot = snap
        self.state_changed.emit()
        if snap.total_received != self._received:
            self._received = snap.total_received
            self.inbox_changed.emit()


class ReceiveStatusLabel(QLabel):
    """The receiver's line in the status bar: listening, receiving (with counts), or why not."""

    def __init__(self, service: DicomNetService) -> None:
        super().__init__()
        self.setObjectName("dicomReceiveStatus")
        self.service = service
        service.state_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        s = self.service
        snap = s.snapshot
        style = ""
        if snap.active:
            parts = []
            for t in snap.active:
                parts.append(
                    self.tr("Receiving DICOM from {ae}: {n} images {patient}")
                    .format(ae=t.calling_ae, n=t.received, patient=_short_name(t.patient_name))
                    .strip()
                )
            text = "; ".join(parts)
        elif s.state == "listening":
            text = self.tr("DICOM: {ae} on port {port}").format(
                ae=local_node(s.context.settings).ae_title, port=s.port
            )
            if (
                snap.recent
                and snap.recent[0].state in ("done", "aborted")
                and snap.recent[0].received
            ):
                last = snap.recent[0]
                text += " · " + self.tr("last: {n} images from {ae}").format(
                    n=last.received, ae=last.calling_ae
                )
                if last.state == "aborted" or last.failed:
                    text += " " + self.tr("(incomplete)")
                    style = "color: #b06000;"
        elif s.state == "starting":
            text = self.tr("DICOM receiver starting…")
        elif s.state == "error":
            text = self.tr("DICOM receiver not running")
            style = "color: #b00020;"
            self.setToolTip(s.error)
        else:
            text = ""
        self.setText(text)
        self.setStyleSheet(style)
        self.setVisible(bool(text))


def _short_name(name: str) -> str:
    from app.dicom_viewer.index import display_name

    shown = display_name(name)
    return f"({shown})" if shown else ""


def dicom_service(context: AppContext) -> DicomNetService | None:
    """The running service, if installed."""
    return context.services.get("dicom_net")


def install_dicom_net(
    context: AppContext, window: Any = None, start: bool = True, parent: QObject | None = None
) -> DicomNetService:
    """Create the service, put its label in the status bar, start listening if enabled.

    The service is owned by ``parent`` (or the window) so Qt destroys it — and its timer — on
    the GUI thread; a parentless QObject could be collected by Python on a worker thread.
    """
    service = DicomNetService(context, parent or window)
    context.services["dicom_net"] = service
    if window is not None:
        window.statusBar().addPermanentWidget(ReceiveStatusLabel(service))

    def on_change(topic: str) -> None:
        if topic == "settings" and service.state in ("listening", "error", "off"):
            if not service.enabled:
                service.stop(wait=False)
            else:
                service.restart()

    context.on_change(on_change)
    if start:
        service.start()
    return service
