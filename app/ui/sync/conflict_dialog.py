"""A conflicted record: the competing versions side by side, a choice per field."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.sync.field_labels import field_label, field_value


def _show(key: str, value: Any, names: dict[str, str]) -> str:
    if value is None or value == "":
        return "—"
    coded = field_value(key, value, names)
    if coded is not None:
        return coded
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


class ConflictDialog(QDialog):
    """Pick, field by field, which version to keep; ``chosen_fields()`` is the result.

    ``names`` maps user ids to display names (authors of the versions, specialists named in
    fields); an id without a name is shown as "unknown user"."""

    def __init__(
        self,
        doc: Any,
        identity: str = "",
        parent: QWidget | None = None,
        names: dict[str, str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.names = dict(names or {})
        self.setWindowTitle(self.tr("Resolve conflicting edits"))
        self.doc = doc
        self.versions = list(doc.conflict.versions) if doc.conflict else []
        layout = QVBoxLayout(self)
        if identity:
            identity_label = QLabel(identity)
            identity_label.setObjectName("patientIdentity")
            identity_label.setStyleSheet("font-weight: bold;")
            layout.addWidget(identity_label)
        layout.addWidget(
            QLabel(
                self.tr(
                    "This record was changed in two places before they could sync. Nothing has been "
                    "lost: choose which value to keep for each field."
                )
            )
        )
        keys: list[str] = []
        for version in self.versions:
            for key in version.fields:
                if key not in keys:
                    keys.append(key)
        self.keys = keys
        headers = [self.tr("Field")]
        for i, version in enumerate(self.versions):
            who = self.names.get(version.user_id) or self.tr("unknown user")
            if i == 0:
                headers.append(self.tr("Version on the hub ({user})").format(user=who))
            else:
                headers.append(self.tr("Edited version ({user})").format(user=who))
        self.table = QTableWidget(len(keys), len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.groups: list[QButtonGroup] = []
        conflicted = set(doc.conflict.fields) if doc.conflict else set()
        for row, key in enumerate(keys):
            name = QTableWidgetItem(field_label(key) + (" ⚠" if key in conflicted else ""))
            self.table.setItem(row, 0, name)
            group = QButtonGroup(self)
            values = [v.fields.get(key) for v in self.versions]
            for col, value in enumerate(values):
                button = QRadioButton(_show(key, value, self.names))
                group.addButton(button, col)
                self.table.setCellWidget(row, col + 1, button)
            # Default: the hub's value unless another version changed it (then the latest).
            default = 0
            for col in range(len(values) - 1, 0, -1):
                if values[col] != values[0]:
                    default = col if key not in conflicted else 0
                    break
            group.button(default).setChecked(True)
            self.groups.append(group)
        layout.addWidget(self.table, 1)
        shortcuts = QHBoxLayout()
        for col in range(len(self.versions)):
            choose_all = QPushButton(headers[col + 1])
            choose_all.clicked.connect(lambda _=False, c=col: self.choose_all(c))
            shortcuts.addWidget(choose_all)
        layout.addLayout(shortcuts)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(self.tr("Keep my choices"))
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(self.tr("Decide later"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(820, 420)

    def choose_all(self, column: int) -> None:
        """Take every field from one version."""
        for group in self.groups:
            group.button(column).setChecked(True)

    def choose(self, key: str, column: int) -> None:
        """Take ``key`` from version ``column``."""
        self.groups[self.keys.index(key)].button(column).setChecked(True)

    def chosen_fields(self) -> dict[str, Any]:
        """The complete fields as chosen (a field absent from the chosen version is dropped)."""
        out: dict[str, Any] = {}
        for key, group in zip(self.keys, self.groups, strict=True):
            version = self.versions[group.checkedId()]
            if key in version.fields:
                out[key] = version.fields[key]
        return out
