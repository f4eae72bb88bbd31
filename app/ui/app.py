"""Start the desktop client: settings, logging, language, main window, hub, sign-in."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app import APP_NAME, APP_ORG, __version__, credentials, native_heap, tasks
from app.config import load_settings
from app.context import AppContext
from app.crash_guard import PreviousSession, install_crash_guard
from app.logging_setup import set_level, setup_logging
from app.ui.bridge import call_on_gui, run_in_worker, run_network
from app.ui.gui_gc import install_gui_thread_collector
from app.ui.i18n import install_translators, resolve_language
from app.ui.main_window import MainWindow
from app.ui.stall_monitor import GuiStallMonitor
from app.ui.wording import error_text

log = logging.getLogger(__name__)


class ClientController(QObject):
    """Owns the main window and the session life cycle (hub start, sign-in, sign-out)."""

    def __init__(self, app: QApplication, context: AppContext) -> None:
        super().__init__()
        self.app = app
        self.context = context
        self.embedded_hub: Any = None
        self.window = MainWindow(context)
        from app.ui.sync.wiring import install_sync

        install_sync(context, self.window)
        from app.ui.workflow.notifier import install_notifications

        install_notifications(context, self.window)
        from app.ui.dicom_net.service import install_dicom_net

        # Starts listening once the keyring is known good (the inbox's keys live there).
        self.dicom_net = install_dicom_net(context, self.window, start=False)
        context.on_change(self._on_context_change)
        self.window.sign_in_requested.connect(self.show_login)
        self.window.sign_out_requested.connect(self.sign_out)
        self.window.settings_requested.connect(self.show_settings)
        self.login_dialog: Any = None
        self._demo_hint = ""
        self._health_busy = False
        from app.sync.link import HubLink

        # Reachability from every hint (WebSocket, any request, probes); the label follows it.
        self.link = HubLink()
        context.services["hub_link"] = self.link
        self.link.on_change(lambda state: call_on_gui(self._link_changed, state))
        self._probe_client: Any = None
        self.health_timer = QTimer(self)
        self.health_timer.setInterval(int(self.link.probe_interval() * 1000))
        self.health_timer.timeout.connect(self.check_hub)
        # glibc keeps what the media threads free; without this a call's RSS creeps up.
        self.heap_timer = QTimer(self)
        self.heap_timer.setInterval(int(native_heap.TRIM_EVERY_S * 1000))
        self.heap_timer.timeout.connect(lambda: run_in_worker(native_heap.trim))
        self.heap_timer.start()
        app.aboutToQuit.connect(self.shutdown)

    # -- hub ---------------------------------------------------------------------------
    def start_hub(self) -> None:
        """Use the configured hub, or start the embedded demo hub off the GUI thread."""
        configured = self.context.settings.get("hub_url")
        if configured:
            self.context.hub_url = configured
            self.window.set_hub_state(self.tr("Hub: {url}").format(url=configured), True)
            self.context.changed("hub")
            self.health_timer.start()
            self.check_hub()
            return
        self.context.demo = True
        self.window.set_hub_state(self.tr("Hub: starting the local demo hub…"), True)
        run_network(_start_embedded_hub, on_done=self._hub_started, on_error=self._hub_failed)

    def _hub_started(self, hub: Any) -> None:
        self.embedded_hub = hub
        self.context.hub_url = hub.url
        self._demo_hint = _demo_hint(hub)
        self.window.set_hub_state(self.tr("Hub: local demo hub"), True)
        if self.login_dialog is not None:
            self.login_dialog.set_hub_url(hub.url)
            self.login_dialog.hint.setText(self._demo_hint)
            self.login_dialog.hint.setVisible(bool(self._demo_hint))
            self.login_dialog.adjustSize()
        self.context.changed("hub")
        self.health_timer.start()
        self.check_hub()

    def _hub_failed(self, exc: BaseException) -> None:
        log.error("the embedded demo hub did not start: %s", exc)
        self.window.set_hub_state(
            self.tr("Hub: the local demo hub did not start ({error})").format(
                error=error_text(exc)
            ),
            False,
        )

    def check_hub(self) -> None:
        """Ask the hub if it is ready, on a worker; the answer updates the status bar."""
        if self._health_busy or not self.context.hub_url:
            return
        from app.sync.hub_client import HubClient

        self._health_busy = True
        client = self._probe_client
        if client is None or client.base_url != self.context.hub_url.rstrip("/"):
            # One client kept between probes: its kept-alive connection makes a probe one
            # round trip on a slow link instead of a new TLS handshake every time.
            client = HubClient(
                self.context.hub_url,
                ca_bundle=self.context.settings.get("ca_bundle", ""),
                proxy=self.context.settings.get("proxy", "system"),
                timeout=4,
            )
            client.on_link = lambda reached: self.link.report(reached, "probe")
            self._probe_client = client
        run_network(client.health, on_done=self._hub_health, on_error=self._hub_health)

    def _link_changed(self, state: str) -> None:
        """The hub came or went (a WebSocket close, a failed request, a probe)."""
        from app.sync.link import ONLINE

        self.health_timer.setInterval(int(self.link.probe_interval() * 1000))
        if not self.context.hub_url:
            return
        if state == ONLINE:
            self._show_connected()
            session = self.context.services.get("sync")
            if session is not None:
                session.engine.sync_now()  # the outbox goes now, not after the backoff
        else:
            self.window.set_hub_state(self.tr("Hub: offline — work continues locally"), False)

    def _websocket(self, up: bool) -> None:
        self.link.websocket(up)
        self.health_timer.setInterval(int(self.link.probe_interval() * 1000))

    def _show_connected(self) -> None:
        where = self.tr("local demo hub") if self.context.demo else self.context.hub_url
        self.window.set_hub_state(self.tr("Hub: connected ({where})").format(where=where), True)

    def _hub_health(self, result: Any) -> None:
        from app.sync import errors

        self._health_busy = False
        self.health_timer.setInterval(int(self.link.probe_interval() * 1000))
        where = self.tr("local demo hub") if self.context.demo else self.context.hub_url
        if result is True:
            self._show_connected()
        elif isinstance(result, errors.TlsUntrusted):
            self.window.set_hub_state(self.tr("Hub: certificate not trusted"), False)
        elif isinstance(result, errors.HubOffline):
            self.window.set_hub_state(self.tr("Hub: offline — work continues locally"), False)
        else:
            self.window.set_hub_state(
                self.tr("Hub: not ready ({where})").format(where=where), False
            )

    # -- session ----------------------------------------------------------------------
    def show_login(self) -> None:
        """Open the sign-in dialog (non-modal so the window keeps working offline)."""
        from app.ui.login_dialog import LoginDialog

        if self.login_dialog is not None and self.login_dialog.isVisible():
            self.login_dialog.raise_()
            return
        self.login_dialog = LoginDialog(self.context, self.window, demo_hint=self._demo_hint)
        self.login_dialog.signed_in.connect(self._signed_in)
        self.login_dialog.open()

    def _signed_in(self, tokens: Any) -> None:
        self.context.user = tokens.user
        log.info("signed in as %s (%s)", tokens.user.username, tokens.user.role)
        self.context.changed("user")

    def _on_context_change(self, topic: str) -> None:
        if topic != "user":
            return
        if self.context.user is not None:
            # Load the media stack off the GUI thread, then connect to call signaling so an
            # incoming call rings whichever page is open.
            run_in_worker(warm_imports, on_done=lambda _: self._start_calls())
        else:
            calls = self.context.services.get("calls")
            if calls is not None:
                calls.stop()

    def _start_calls(self) -> None:
        if self.context.user is None or "hub_client" not in self.context.services:
            return
        page = self.window.page("call")  # creating the page starts the call service
        service = getattr(page, "service", None)
        if service is None:
            return
        service.start()  # after a sign-out/sign-in the page's service reconnects
        if not getattr(self, "_calls_connected", False):
            self._calls_connected = True
            service.call_event.connect(self._on_call_event)
            service.connection.connect(self._websocket)

    def _on_call_event(self, event: Any) -> None:
        # Bring the Call page forward when a call rings in or starts.
        if getattr(event, "kind", "") == "incoming" or getattr(event, "phase", None) in (
            "calling",
            "active",  # CallPhase is a StrEnum
        ):
            self.window.show_page("call")

    def sign_out(self) -> None:
        """Forget the session locally and revoke it on the hub in the background."""
        client = self.context.services.pop("hub_client", None)
        user = self.context.user
        self.context.user = None
        self.context.changed("user")
        if client is not None:
            run_network(client.logout)
        if user is not None:
            from app.ui.login_dialog import token_key

            run_in_worker(credentials.delete_secret, token_key(user.username, self.context.hub_url))

    def show_settings(self) -> None:
        """Open Settings; apply language and log level when accepted."""
        from app.ui.settings_dialog import SettingsDialog

        before = self.context.settings.get("language")
        dialog = SettingsDialog(self.context.settings, self.window)
        if dialog.exec():
            set_level(self.context.settings.get("log_level"))
            if self.context.settings.get("language") != before:
                QMessageBox.information(
                    self.window,
                    self.tr("Settings"),
                    self.tr("The new language is used after YiQiao restarts."),
                )
            self.context.changed("settings")

    def keyring_unavailable(self, exc: BaseException) -> None:
        """No OS keyring: refuse to keep secrets, except in-memory for the demo hub."""
        log.warning("no usable keyring: %s", exc)
        if not self.context.settings.get("hub_url"):
            # Demo only: keys live in this process and die with it, so the demo cache goes to
            # a throw-away folder (it could not be decrypted next time anyway).
            import tempfile
            from pathlib import Path

            credentials.use_memory_keyring()
            self.context.ephemeral_secrets = True
            self.context.data_dir = Path(tempfile.mkdtemp(prefix="yiqiao-demo-"))
            self.window.show_notice(
                self.tr(
                    "No secure credential store was found on this computer. For the demo, "
                    "sign-in and encryption keys are kept in memory only and nothing is saved "
                    "between runs. Ask IT to enable the system keyring before real use."
                )
            )
            return
        QMessageBox.critical(
            self.window,
            self.tr("Credential store"),
            self.tr(
                "No secure credential store was found on this computer, so YiQiao cannot keep "
                "your sign-in or encryption keys safely and will not store them in a plain "
                "file. Ask IT to enable the system keyring (on Linux: GNOME Keyring or KWallet)."
            ),
        )

    def offer_diagnostics(self, previous: PreviousSession) -> Any:
        """The last session crashed or hung: say so and offer Export diagnostics."""
        from app.ui.abnormal_exit import offer_diagnostics

        self.abnormal_exit_box = offer_diagnostics(
            self.window, previous, self.window.export_diagnostics
        )
        return self.abnormal_exit_box

    def shutdown(self) -> None:
        """Stop background work and the embedded hub."""
        self.dicom_net.shutdown()
        if self.embedded_hub is not None:
            try:
                self.embedded_hub.stop()
            except Exception:  # noqa: BLE001 - best effort at exit
                log.exception("stopping the embedded hub failed")
        tasks.shutdown(timeout=2.0)


WARM_MODULES = (
    "numpy",
    "pydicom",
    "av",
    "aiortc",
    "app.dicom_viewer.loader",
    "app.dicom_viewer.render",
    "app.media.call",
    "app.media.engine",
    "app.media.capture",
)


def warm_imports() -> None:
    """Import the Qt-free heavy stacks on a worker so opening Viewer or Call does not stall."""
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional piece shows up when it is used
            log.warning("could not preload %s", name, exc_info=True)


def _start_embedded_hub() -> Any:
    from app import paths
    from app.embedded_hub import start_embedded_hub

    return start_embedded_hub(paths.user_data_dir() / "demo-hub")


def _demo_hint(hub: Any) -> str:
    """The demo accounts, phrased in the user's language (the hub only knows usernames)."""
    accounts: dict[str, str] = getattr(hub, "credentials", {}) or {}
    if not accounts:
        return ""

    roles = {
        "doctor": QApplication.translate("ClientController", "township clinic doctor"),
        "specialist": QApplication.translate("ClientController", "radiology specialist"),
        "specialist2": QApplication.translate("ClientController", "cardiology specialist"),
        "coordinator": QApplication.translate("ClientController", "coordinator"),
        "admin": QApplication.translate("ClientController", "administrator"),
    }
    lines = [
        f"{user} / {password}" + (f" — {roles[user]}" if user in roles else "")
        for user, password in accounts.items()
    ]
    title = QApplication.translate("ClientController", "Demo accounts:")
    return title + "\n" + "\n".join(lines)


def run_gui(language: str | None = None, probe_startup: bool = False) -> int:
    """Create the application and run its event loop; returns the exit code."""
    started = time.perf_counter()
    settings = load_settings()
    log_file = setup_logging(settings.get("log_level", "INFO"))
    guard = install_crash_guard(log_file)  # faulthandler into the log, GUI watchdog, marker
    log.info("YiQiao %s starting", __version__)
    if guard.previous is not None:
        log.warning("the last session (pid %d) ended abnormally", guard.previous.pid)
    if QApplication.instance() is None:
        # 125 % / 150 % Windows scaling: pass fractional factors through instead of rounding.
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_ORG)
    app.setApplicationVersion(__version__)
    install_gui_thread_collector(app)  # cycles holding Qt objects die on the GUI thread
    install_translators(resolve_language(language or settings.get("language", "system")))
    context = AppContext(settings=settings)
    controller = ClientController(app, context)
    controller.window.show()
    monitor = GuiStallMonitor(guard, interval_ms=250, report_over_s=1.0, parent=controller)
    monitor.start()
    app.aboutToQuit.connect(guard.close_cleanly)
    if probe_startup:
        # bench/startup.py: report when the window is on screen, then leave.
        def report() -> None:
            print(f"WINDOW_SHOWN {time.perf_counter() - started:.4f}", flush=True)
            app.quit()

        QTimer.singleShot(0, report)
        return app.exec()
    _quit_on_signals(app)
    QTimer.singleShot(0, controller.start_hub)
    QTimer.singleShot(1500, lambda: run_in_worker(warm_imports))
    QTimer.singleShot(0, lambda: _check_keyring(controller))
    QTimer.singleShot(0, controller.show_login)
    previous = guard.previous
    if previous is not None:
        QTimer.singleShot(0, lambda: controller.offer_diagnostics(previous))
    return app.exec()


def _quit_on_signals(app: QApplication) -> None:
    """SIGTERM/SIGINT quit through Qt, so the embedded hub and calls are shut down cleanly."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.quit())
    # Python runs signal handlers only between bytecodes; a tick lets it see them in exec().
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(500)


def _check_keyring(controller: ClientController) -> None:
    def ok(name: str) -> None:
        log.info("keyring backend: %s", name)
        controller.dicom_net.start()

    def unavailable(exc: BaseException) -> None:
        controller.keyring_unavailable(exc)
        if controller.context.ephemeral_secrets:  # demo: keys in memory, inbox in a temp dir
            controller.dicom_net.start()

    run_in_worker(credentials.check_keyring, on_done=ok, on_error=unavailable)
