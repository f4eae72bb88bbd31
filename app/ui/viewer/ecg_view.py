"""Shows a 12-lead ECG on the standard grid (rendered by the Qt-free core)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from app.dicom_viewer.ecg import EcgRecording, render_ecg


class EcgView(QWidget):
    """ECG paper at 25 mm/s and 10 mm/mV, with patient identity above it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.caption = QLabel()
        self.image = QLabel()
        scroll = QScrollArea()
        scroll.setWidget(self.image)
        scroll.setWidgetResizable(False)
        layout.addWidget(self.caption)
        layout.addWidget(scroll, 1)
        self._rgb: np.ndarray | None = None  # kept: the QImage was made from its buffer

    def show_recording(self, rec: EcgRecording, px_per_mm: float = 5.0) -> None:
        rgb = self._rgb = render_ecg(rec, px_per_mm)
        h, w = rgb.shape[:2]
        img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.image.setPixmap(QPixmap.fromImage(img))
        self.image.resize(w, h)
        self.caption.setText(
            self.tr("%1  ID: %2  —  25 mm/s, 10 mm/mV, %3 leads")
            .replace("%1", rec.patient_name)
            .replace("%2", rec.patient_id)
            .replace("%3", str(len(rec.leads)))
        )
