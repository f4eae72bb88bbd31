"""The series browser: one thumbnail per series, grouped by patient and study.

Thumbnails are decoded and rendered on the decode pool and set when ready.
"""

from __future__ import annotations

import functools

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from app.dicom_viewer.index import Library, Series
from app.dicom_viewer.loader import FrameSource
from app.dicom_viewer.render import display_pixels, to_viewport
from app.dicom_viewer.view_state import ViewState
from app.ui import bridge

THUMB = 96
SERIES_ROLE = Qt.ItemDataRole.UserRole + 1


def thumbnail(source: FrameSource, series: Series) -> np.ndarray:
    """A THUMB×THUMB RGB thumbnail of the series' middle frame (runs on a worker)."""
    ref = series.frames[len(series.frames) // 2]
    stored = source.get(ref)
    img = display_pixels(ref.instance.header, ref.frame, stored, ViewState())
    return np.ascontiguousarray(to_viewport(img, ViewState(), (THUMB, THUMB)))


class SeriesBrowser(QListWidget):
    """Lists every series of the library; double-click (or Enter) opens one."""

    series_chosen = Signal(object)  # Series

    def __init__(self, source: FrameSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.setIconSize(QSize(THUMB, THUMB))
        self.setMinimumWidth(THUMB + 150)
        self.setWordWrap(True)
        self.setSpacing(2)
        self._items: dict[str, QListWidgetItem] = {}
        self._images: dict[str, np.ndarray] = {}
        self.itemActivated.connect(self._activated)
        self.itemDoubleClicked.connect(self._activated)

    def populate(self, library: Library) -> None:
        """Add items for series not yet listed (keeps thumbnails of existing ones)."""
        for patient, study, series in library.all_series():
            count = len(series.frames) or len(series.waveforms)
            label = "\n".join(
                x
                for x in (
                    f"{patient.name}  {patient.patient_id}",
                    f"{study.date} {study.description}".strip(),
                    f"{series.modality} #{series.number} {series.description}".strip(),
                    self.tr("%1 image(s)").replace("%1", str(count)),
                )
                if x
            )
            item = self._items.get(series.uid)
            if item is None:
                item = QListWidgetItem(label)
                item.setData(SERIES_ROLE, series)
                self.addItem(item)
                self._items[series.uid] = item
                if series.frames:
                    bridge.run_in_worker(
                        thumbnail,
                        self.source,
                        series,
                        on_done=functools.partial(self._set_thumb, series.uid),
                        on_error=lambda _e: None,
                    )
            else:
                item.setText(label)

    def _set_thumb(self, uid: str, img: np.ndarray) -> None:
        item = self._items.get(uid)
        if item is None:
            return
        self._images[uid] = img
        h, w = img.shape[:2]
        qimg = QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        item.setIcon(QIcon(QPixmap.fromImage(qimg)))

    def has_thumbnail(self, uid: str) -> bool:
        return uid in self._images

    def _activated(self, item: QListWidgetItem) -> None:
        self.series_chosen.emit(item.data(SERIES_ROLE))
