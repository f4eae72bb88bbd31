"""Sign in to the hub. The network call runs on a worker; the dialog stays responsive."""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app import credentials
from app.context import AppContext
from app.sync import errors
from app.ui.bridge import run_network
from app.ui.wording import error_text, hub_error_text

log = logging.getLogger(__name__)


def token_key(username: str, hub_url: str) -> str:
    """The keyring entry name for a user's refresh token on one hub."""
    return f"refresh-token:{username}@{hub_url}"


def sign_in(context: AppContext, username: str, password: str):  # noqa: ANN201 - TokenPair
    """Blocking: log in to the context's hub and keep the refresh token in the keyring."""
    from app.sync.hub_client import HubClient

    client = HubClient(
        context.hub_url,
        ca_bundle=context.settings.get("ca_bundle", ""),
        proxy=context.settings.get("proxy", "system"),
    )
    link = context.services.get("hub_link")
    if link is not None:
        client.on_link = link.report  # sync and sign-in failures reach the status bar
    tokens = client.login(username, password, device_name=platform.node())
    credentials.set_secret(token_key(username, context.hub_url), tokens.refresh_token)
    context.services["hub_client"] = client
    # The session opening next keeps the cache keys wrapped by it and unlocks set-aside caches.
    context.services["sign_in_password"] = credentials.OneTimeSecret(password)
    return tokens


class LoginDialog(QDialog):
    """Username and password; errors say what went wrong in words a doctor can act on."""

    signed_in = Signal(object)  # TokenPair

    def __init__(
        self,
        context: AppContext,
        parent: QWidget | None = None,
        demo_hint: str = "",
        authenticate: Callable[[AppContext, str, str], object] = sign_in,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self._authenticate = authenticate
        self._waiting_for_hub = False
        self.setWindowTitle(self.tr("Sign in to YiQiao"))
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 30)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.hub_label = QLabel(context.hub_url or self.tr("(starting the local demo hub…)"))
        self.hub_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.username = QLineEdit(context.settings.get("last_username", ""))
        self.username.setObjectName("username")
        self.password = QLineEdit()
        self.password.setObjectName("password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow(self.tr("Hub:"), self.hub_label)
        form.addRow(self.tr("&Username:"), self.username)
        form.addRow(self.tr("&Password:"), self.password)
        layout.addLayout(form)
        self.hint = QLabel(demo_hint)
        self.hint.setWordWrap(True)
        self.hint.setVisible(bool(demo_hint))
        layout.addWidget(self.hint)
        self.error = QLabel()
        self.error.setObjectName("loginError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        self.error.hide()
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.sign_in_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.sign_in_button.setText(self.tr("Sign in"))
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        (self.password if self.username.text() else self.username).setFocus()

    def set_hub_url(self, url: str) -> None:
        """Update the hub shown (e.g. once the embedded demo hub is up); resume a waiting sign-in."""
        self.hub_label.setText(url)
        if self._waiting_for_hub and url:
            self._waiting_for_hub = False
            self.submit()

    def submit(self) -> None:
        """Start signing in on a worker thread."""
        username, password = self.username.text().strip(), self.password.text()
        if not username or not password:
            self._show_error(self.tr("Enter your username and password."))
            return
        if not self.context.hub_url:
            # The demo hub is still starting: sign in as soon as it is up.
            self._waiting_for_hub = True
            self._busy(True)
            self.error.setText(self.tr("Waiting for the hub to start…"))
            return
        self._busy(True)
        self.error.setText(self.tr("Signing in…"))
        run_network(
            self._authenticate,
            self.context,
            username,
            password,
            on_done=self._done,
            on_error=self._failed,
        )

    def _done(self, tokens: object) -> None:
        self._busy(False)
        try:
            self.context.settings.set_user("last_username", self.username.text().strip())
            self.context.settings.save()
        except (OSError, ValueError, PermissionError):
            log.warning("could not remember the username", exc_info=True)
        self.signed_in.emit(tokens)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._busy(False)
        self.password.selectAll()
        self._show_error(self.describe_error(exc))

    def describe_error(self, exc: BaseException) -> str:
        """A sentence for the user; the technical detail goes to the log."""
        log.warning("sign-in failed: %s", exc)
        if isinstance(exc, credentials.KeyringUnavailable):
            return self.tr(
                "Signed in, but this computer has no secure credential store to keep the "
                "sign-in safely. Ask IT to enable the system keyring."
            )
        if isinstance(exc, errors.LoginRefused):
            return self.tr("The hub refused the sign-in: {reason}").format(
                reason=hub_error_text(exc)
            )
        if isinstance(exc, errors.HubError):
            return hub_error_text(exc)
        return self.tr("Sign-in failed: {reason}").format(reason=error_text(exc))

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def _busy(self, busy: bool) -> None:
        self.sign_in_button.setEnabled(not busy)  # Cancel stays usable
        self.username.setEnabled(not busy)
        self.password.setEnabled(not busy)
        if busy:
            self.error.setStyleSheet("")
            self.error.show()
        else:
            self.error.setStyleSheet("color: #b00020;")
