"""Viewer page (first version; its owner replaces it)."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.context import AppContext
from app.ui.pages.empty_state import EmptyState


class ViewerPage(QWidget):
    """Viewer page."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        layout = QVBoxLayout(self)
        layout.addWidget(
            EmptyState(
                self.tr("Viewer"),
                self.tr("Open DICOM images from a CD, USB stick or folder to view and measure them."),
            )
        )
