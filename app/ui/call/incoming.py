"""The incoming-call dialog: who calls, from where, about which consultation."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.protocol.signaling import Incoming


class IncomingCallDialog(QDialog):
    """Accept (``accepted``) or decline (``rejected``)."""

    def __init__(
        self, incoming: Incoming, consultation_title: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Incoming call"))
        caller = incoming.caller
        who = QLabel(f"<b>{caller.display_name}</b>")
        where = QLabel(caller.facility_name)
        about = QLabel(
            self.tr("Consultation: {0}").format(consultation_title or incoming.consultation_id[:8])
        )
        accept = QPushButton(self.tr("Accept"))
        accept.setObjectName("accept")
        decline = QPushButton(self.tr("Decline"))
        decline.setObjectName("decline")
        accept.setDefault(True)
        accept.clicked.connect(self.accept)
        decline.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(decline)
        buttons.addWidget(accept)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(self.tr("is calling you")))
        layout.addWidget(who)
        layout.addWidget(where)
        layout.addWidget(about)
        layout.addLayout(buttons)
