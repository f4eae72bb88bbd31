"""Patients page (first version; its owner replaces it)."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.context import AppContext
from app.ui.pages.empty_state import EmptyState


class PatientsPage(QWidget):
    """Patients page."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        layout = QVBoxLayout(self)
        layout.addWidget(
            EmptyState(
                self.tr("Patients"),
                self.tr("Registered patients appear here once you are signed in. You can register patients even when the network is down."),
            )
        )
