"""Call page (first version; its owner replaces it)."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.context import AppContext
from app.ui.pages.empty_state import EmptyState


class CallPage(QWidget):
    """Call page."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        layout = QVBoxLayout(self)
        layout.addWidget(
            EmptyState(
                self.tr("Call"),
                self.tr("Start a video consultation from a scheduled consultation, or make a test call to check your camera, microphone and network."),
            )
        )
