"""The patient banner: name, sex, age and ID, always on top of a case or a request."""

from __future__ import annotations

import html
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
        self.label = QLabel()
        self.label.setObjectName("bannerText")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        self._plain = ""

    def set_patient(self, fields: dict[str, Any] | None) -> None:
        name, number, sex, age = identity_parts(fields)
        parts = [p for p in (sex, age) if p]
        if number:
            parts.append(self.tr("Clinic no. {0}").format(number))
        if fields and fields.get("id_card"):
            parts.append(self.tr("Resident ID {0}").format(fields["id_card"]))
        if fields and fields.get("allergies"):
            parts.append(self.tr("Allergies: {0}").format(fields["allergies"]))
        details = " · ".join(parts)
        self._plain = f"{name} {details}"
        self.label.setText(
            # Short tags only: the zh_CN walk reads label texts for English words.
            f"<b><big>{html.escape(name)}</big></b> · {html.escape(details)}"
        )

    def text(self) -> str:
        return self._plain
