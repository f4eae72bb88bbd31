"""The Viewer page: the DICOM viewer for the signed-in user (annotations carry their name)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.context import AppContext
from app.ui.viewer.viewer_widget import ViewerWidget


class ViewerPage(QWidget):
    """Viewer page shown under the main window's "Viewer" navigation entry."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        from app.ui.workflow.banner import PatientBanner

        # A case's images carry the case's patient banner (hidden for files opened here).
        self.banner = PatientBanner()
        self.banner.hide()
        layout.addWidget(self.banner)
        self.viewer = ViewerWidget(author=self._author())
        layout.addWidget(self.viewer)
        context.on_change(self._session_changed)

    def show_case_images(self, patient: Any, items: list[tuple[str, Any]]) -> None:
        """Open a case's DICOM from memory (``(name, opener)``), under its patient banner."""
        self.banner.set_patient(patient)
        self.banner.show()
        self.viewer.import_buffers(items)

    def _author(self) -> str:
        user = getattr(self.context, "user", None)
        return str(getattr(user, "display_name", "") or getattr(user, "username", "") or "")

    def _session_changed(self, topic: str) -> None:
        if topic == "user":
            author = self._author()
            if author:
                self.viewer.author = author
                for vp in self.viewer.viewports:
                    vp.author = author
