"""The incoming-call dialog: who calls, from where, about which patient and why."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.protocol.signaling import Incoming
from app.sync.call_subject import CallSubject
from app.ui.call.subject import patient_line, purpose_line


class IncomingCallDialog(QDialog):
    """Accept (``accepted``) or decline (``rejected``)."""

    def __init__(self, incoming: Incoming, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Incoming call"))
        caller = incoming.caller
        who = QLabel(f"<b>{caller.display_name}</b>")
        where = QLabel(caller.facility_name)
        # Filled in by ``set_subject`` once the local records were read (off the GUI thread).
        self.patient = QLabel(self.tr("Patient: looking up…"))
        self.patient.setObjectName("call_patient")
        bold = self.patient.font()
        bold.setBold(True)
        self.patient.setFont(bold)
        self.patient.setTextFormat(Qt.TextFormat.PlainText)  # a name is text, never markup
        self.purpose = QLabel()
        self.purpose.setObjectName("call_purpose")
        self.purpose.setWordWrap(True)
        self.purpose.setTextFormat(Qt.TextFormat.PlainText)
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
        layout.addWidget(self.patient)
        layout.addWidget(self.purpose)
        layout.addLayout(buttons)

    def set_subject(self, subject: CallSubject | None) -> None:
        """Show the patient and purpose (None: not on this computer)."""
        self.patient.setText(patient_line(subject))
        self.purpose.setText(purpose_line(subject))
