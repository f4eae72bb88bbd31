"""A video surface that paints the newest frame from a ``LatestFrameSlot``.

A timer asks the slot for a frame newer than the one shown; frames that arrived meanwhile
were simply overwritten (latest wins), so a busy GUI shows fewer frames, never late ones,
and nothing queues on the way.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

from app.media.slots import LatestFrameSlot


class VideoView(QWidget):
    """Shows a slot's frames, letter-boxed, with an optional caption over it."""

    def __init__(
        self,
        slot: LatestFrameSlot | None = None,
        parent: QWidget | None = None,
        interval_ms: int = 33,
    ) -> None:
        super().__init__(parent)
        self.slot = slot
        self._image: QImage | None = None
        self._seq = 0
        self.painted = 0  # frames taken from the slot (tests, soak)
        self.caption = ""
        self.setMinimumSize(160, 120)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.poll)
        self._timer.start(interval_ms)

    def set_caption(self, text: str) -> None:
        """Text drawn over the picture (e.g. why there is no video)."""
        if text != self.caption:
            self.caption = text
            self.update()

    def clear(self) -> None:
        self._image = None
        self.update()

    def poll(self) -> None:
        """Take the newest frame, if there is one."""
        if self.slot is None or not self.isVisible():
            return
        frame = self.slot.take_newer(self._seq)
        if frame is None:
            return
        self._seq = frame.seq
        self.painted += 1
        rgb = frame.rgb
        h, w = rgb.shape[:2]
        self._image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(20, 22, 26))
        if self._image is not None:
            scaled = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            x = (self.width() - scaled.width()) // 2
            y = (self.height() - scaled.height()) // 2
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(QRect(x, y, scaled.width(), scaled.height()), self._image)
        if self.caption:
            painter.setPen(QColor(235, 235, 235))
            painter.drawText(
                self.rect().adjusted(8, 8, -8, -8),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.caption,
            )
        painter.end()
