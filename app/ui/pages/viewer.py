"""The Viewer page: the DICOM viewer for the signed-in user (annotations carry their name)."""

from __future__ import annotations

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
        self.viewer = ViewerWidget(author=self._author())
        layout.addWidget(self.viewer)
        context.on_change(self._session_changed)

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
