"""At start-up: say that the last session ended abnormally and offer Export diagnostics."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

from app.crash_guard import PreviousSession


def abnormal_exit_text(previous: PreviousSession) -> str:
    """What happened last time, in the user's language."""
    from PySide6.QtCore import QCoreApplication

    what = (
        QCoreApplication.translate(
            "AbnormalExit", "YiQiao stopped responding last time and had to be closed."
        )
        if previous.hung
        else QCoreApplication.translate("AbnormalExit", "YiQiao closed unexpectedly last time.")
    )
    advice = QCoreApplication.translate(
        "AbnormalExit",
        "What happened was written to the log. Export diagnostics and send the file to "
        "your IT department so the problem can be found.",
    )
    # Two sentences: a space between them in English, none in Chinese.
    return QCoreApplication.translate("AbnormalExit", "{what} {advice}").format(
        what=what, advice=advice
    )


def offer_diagnostics(
    window: QWidget, previous: PreviousSession, export: Callable[[], object]
) -> QMessageBox:
    """A non-modal notice with an "Export diagnostics…" button that calls ``export()``."""
    from PySide6.QtCore import QCoreApplication

    box = QMessageBox(window)
    box.setObjectName("abnormal_exit")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(
        QCoreApplication.translate("AbnormalExit", "The last session ended abnormally")
    )
    box.setText(abnormal_exit_text(previous))
    button = box.addButton(
        QCoreApplication.translate("AbnormalExit", "Export diagnostics…"),
        QMessageBox.ButtonRole.AcceptRole,
    )
    button.setObjectName("export_diagnostics")
    box.addButton(
        QCoreApplication.translate("AbnormalExit", "Close"), QMessageBox.ButtonRole.RejectRole
    )
    button.clicked.connect(export)
    box.open()
    return box
