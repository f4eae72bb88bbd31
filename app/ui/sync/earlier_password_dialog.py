"""Asks for the password used before it was changed, to open work kept after the computer's
key was lost (``SyncSession.unlock_with_earlier_password``). Unlocking runs on a worker (a
key derivation per kept file); a wrong password leaves everything as it was and says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.ui.bridge import run_in_worker


class EarlierPasswordDialog(QDialog):
    """``unlock(password) -> notices`` is called on a worker; ``on_notices(notices)`` hears
    (on the GUI thread) what was opened, once the dialog closed with success."""

    def __init__(
        self,
        kept: list[str],
        unlock: Callable[[str], list[Any]],
        on_notices: Callable[[list[Any]], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._unlock = unlock
        self._on_notices = on_notices
        self.setWindowTitle(self.tr("Open kept work with an earlier password"))
        layout = QVBoxLayout(self)
        # Word-wrapped labels: the dialog grows to their wrapped height (and with the problem).
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        explain = QLabel(
            self.tr(
                "This computer lost the key to your local records, and your password has "
                "been changed since. Work that had not reached the hub was kept, locked with "
                "the password you used before the change.\n\n"
                "Enter that earlier password to send the work to the hub. If it does not "
                "open, nothing is deleted: you can try again at any time. The hub and IT "
                "cannot open these files without that password."
            )
        )
        explain.setWordWrap(True)
        layout.addWidget(explain)
        files = QLabel(self.tr("Kept:") + "\n" + "\n".join(kept))
        files.setWordWrap(True)
        files.setStyleSheet("color: #555;")
        layout.addWidget(files)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText(self.tr("Earlier password"))
        layout.addWidget(self.password)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b00020;")
        self.problem.hide()
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox()
        self.unlock_button = self.buttons.addButton(
            self.tr("Unlock and send"), QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(self.tr("Later"), QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.try_unlock)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)

    def try_unlock(self) -> None:
        """Try the typed password off the GUI thread."""
        password = self.password.text()
        if not password:
            self._show_problem(self.tr("Enter the earlier password."))
            return
        self.unlock_button.setEnabled(False)
        self.problem.hide()
        self.setCursor(self.cursor().shape().WaitCursor)
        run_in_worker(self._unlock, password, on_done=self._done, on_error=self._failed)

    def _done(self, notices: list[Any]) -> None:
        self.unsetCursor()
        self.unlock_button.setEnabled(True)
        if [getattr(n, "code", "") for n in notices] in ([], ["recovery_wrong_password"]):
            self.password.selectAll()
            self._show_problem(
                self.tr(
                    "This password does not open the kept work. Nothing was changed; try "
                    "another password you used before."
                )
            )
            return
        self.password.clear()
        self.accept()
        self._on_notices(notices)

    def _failed(self, exc: BaseException) -> None:
        from app.ui.wording import error_text

        self.unsetCursor()
        self.unlock_button.setEnabled(True)
        self._show_problem(error_text(exc))

    def _show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()
        self.adjustSize()
