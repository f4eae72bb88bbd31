"""Network-quality bars (0–4), the way phones show signal strength."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

COLORS = {
    0: QColor(200, 40, 40),
    1: QColor(220, 90, 30),
    2: QColor(230, 170, 20),
    3: QColor(120, 190, 60),
    4: QColor(40, 170, 70),
}


class NetworkBars(QWidget):
    """Four bars; ``set_bars(n)`` fills ``n`` of them. The tooltip says it in words."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bars = 0
        self.set_bars(0)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(30, 20)

    def set_bars(self, bars: int) -> None:
        self.bars = max(0, min(4, bars))
        words = [
            self.tr("No connection"),
            self.tr("Very poor network"),
            self.tr("Poor network"),
            self.tr("Fair network"),
            self.tr("Good network"),
        ]
        self.setToolTip(words[self.bars])
        self.setAccessibleName(words[self.bars])
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        w, h = self.width(), self.height()
        bar_w = max(3, w // 6)
        for i in range(4):
            bar_h = int(h * (i + 1) / 4)
            color = COLORS[self.bars] if i < self.bars else QColor(120, 120, 120, 90)
            painter.fillRect(i * (bar_w + 2), h - bar_h, bar_w, bar_h, color)
        painter.end()
