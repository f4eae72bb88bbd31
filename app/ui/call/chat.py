"""Chat beside the video (over the call's data channel)."""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QListWidget, QPushButton, QVBoxLayout, QWidget


class ChatPanel(QWidget):
    """Messages list and a line to type into; ``send_requested`` carries the text."""

    send_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.messages = QListWidget()
        self.messages.setWordWrap(True)
        self.entry = QLineEdit()
        self.entry.setPlaceholderText(self.tr("Type a message"))
        self.entry.setMaxLength(4000)
        send = QPushButton(self.tr("Send"))
        send.clicked.connect(self._send)
        self.entry.returnPressed.connect(self._send)
        row = QHBoxLayout()
        row.addWidget(self.entry, 1)
        row.addWidget(send)
        # Wide enough for a short message in either language at any scaling: the splitter
        # beside the video must not squeeze the field to "输入…" (font metrics are in logical
        # pixels, so this follows the scale factor and the font).
        metrics = self.entry.fontMetrics()
        self.entry.setMinimumWidth(
            max(
                metrics.horizontalAdvance(self.entry.placeholderText()),
                14 * metrics.averageCharWidth(),
            )
            + 16
        )
        self.setMinimumWidth(self.entry.minimumWidth() + send.sizeHint().width() + 8)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.messages, 1)
        layout.addLayout(row)

    def _send(self) -> None:
        text = self.entry.text().strip()
        if text:
            self.entry.clear()
            self.send_requested.emit(text)

    def add_message(self, author: str, text: str, at: float | None = None) -> None:
        """Append one line (author, time, text)."""
        stamp = time.strftime("%H:%M", time.localtime(at or time.time()))
        self.messages.addItem(f"{author}  {stamp}\n{text}")
        self.messages.scrollToBottom()
