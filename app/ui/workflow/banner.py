"""The patient banner: name, sex, age and ID, always on top of a case or a request."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from app.ui.sync.identity import identity_parts


class PatientBanner(QWidget):
    """One strip: 王秀英 · 女 · 70 岁 · 编号 QS-0042 · 身份证 5301…"""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patientBanner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            "#patientBanner { background: #e3f2fd; border-bottom: 1px solid #90caf9; }"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.name = QLabel()
        self.name.setObjectName("bannerName")
        self.name.setStyleSheet("font-size: 16px; font-weight: bold;")
        self.details = QLabel()
        self.details.setObjectName("bannerDetails")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.name)
        layout.addWidget(self.details, 1)

    def set_patient(self, fields: dict[str, Any] | None) -> None:
        name, number, sex, age = identity_parts(fields)
        self.name.setText(name)
        parts = [p for p in (sex, age) if p]
        if number:
            parts.append(self.tr("Clinic no. {0}").format(number))
        if fields and fields.get("id_card"):
            parts.append(self.tr("Resident ID {0}").format(fields["id_card"]))
        if fields and fields.get("allergies"):
            parts.append(self.tr("Allergies: {0}").format(fields["allergies"]))
        self.details.setText(" · ".join(parts))

    def text(self) -> str:
        return f"{self.name.text()} {self.details.text()}"
