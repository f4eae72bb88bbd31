"""About YiQiao: what is installed (versions of the app, Qt, aiortc, pydicom ...)."""

from __future__ import annotations

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from app.diagnostics import component_versions


class AboutDialog(QDialog):
    """Versions IT asks for, readable and selectable."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("About YiQiao"))
        layout = QVBoxLayout(self)
        title = QLabel(self.tr("YiQiao Remote Consultation"))
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        title.setFont(font)
        layout.addWidget(title)
        layout.addWidget(
            QLabel(self.tr("Connects township clinics with county and provincial specialists."))
        )
        form = QFormLayout()
        versions = component_versions()
        rows = [
            # Product names are proper nouns: not translated.
            ("YiQiao", versions["YiQiao"]),
            ("Qt", qVersion()),
            ("PySide6", pyside_version),
            ("aiortc", versions["aiortc"]),
            ("PyAV", versions["av"]),
            ("pydicom", versions["pydicom"]),
            ("Python", versions["Python"]),
        ]
        self.version_labels: dict[str, QLabel] = {}
        for name, value in rows:
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(name + ":", label)
            self.version_labels[name] = label
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
