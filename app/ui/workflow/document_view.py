"""Photos and PDF pages shown inside the app (from the encrypted store, in memory), with the
patient banner on top."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.ui.workflow.banner import PatientBanner


class DocumentDialog(QDialog):
    """One attachment's pictures (a photo, or a PDF's pages)."""

    def __init__(
        self, title: str, patient: dict[str, Any] | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(900, 760)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = PatientBanner()
        self.banner.set_patient(patient)
        layout.addWidget(self.banner)
        self.status = QLabel(self.tr("Opening…"))
        layout.addWidget(self.status)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        self.pages = QWidget()
        self.pages_layout = QVBoxLayout(self.pages)
        self.pages_layout.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        scroll.setWidget(self.pages)
        layout.addWidget(scroll, 1)
        self.shown = 0

    def show_images(self, images: list[bytes]) -> None:
        """PNG/JPEG bytes, one picture each."""
        for data in images:
            pixmap = QPixmap()
            pixmap.loadFromData(data)
            if pixmap.width() > 860:
                pixmap = pixmap.scaledToWidth(860, Qt.TransformationMode.SmoothTransformation)
            label = QLabel()
            label.setPixmap(pixmap)
            self.pages_layout.addWidget(label)
            self.shown += 1
        self.status.setText(self.tr("{n} page(s)").format(n=self.shown))

    def show_problem(self, text: str) -> None:
        self.status.setText(text)
