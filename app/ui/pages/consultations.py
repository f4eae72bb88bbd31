"""Consultations page (first version; its owner replaces it)."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.context import AppContext
from app.ui.pages.empty_state import EmptyState


class ConsultationsPage(QWidget):
    """Consultations page."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        layout = QVBoxLayout(self)
        layout.addWidget(
            EmptyState(
                self.tr("Consultations"),
                self.tr("Consultation requests, the specialist worklist and reports appear here once you are signed in and the records have synced."),
            )
        )
