"""The registration form: every field of :class:`PatientForm`, problems shown per field in the
user's language as you type, and the likely duplicate offered before saving."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.sync.identity import identity_text
from app.ui.workflow.registry_model import Duplicate, PatientForm
from app.ui.workflow.wording import problem_sentence


class PatientDialog(QDialog):
    """Register (or edit) a patient. ``chosen_existing`` is set when the doctor picks the
    existing patient offered as a duplicate instead of saving a new one."""

    def __init__(
        self,
        existing: list[tuple[str, dict[str, Any]]],
        form: PatientForm | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.form = form or PatientForm()
        self.existing = existing
        self.chosen_existing: str | None = None
        self.setWindowTitle(self.tr("Edit patient") if self.form.doc_id else self.tr("New patient"))
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        grid = QFormLayout()
        self.edits: dict[str, Any] = {}
        self.name = self._line("name", self.tr("Name"), grid)
        self.id_card = self._line("id_card", self.tr("Resident ID number"), grid)
        self.id_card.setPlaceholderText(self.tr("18 characters; fills in birth date and sex"))
        self.sex = QComboBox()
        for code, text in (
            ("U", self.tr("Unknown")),
            ("F", self.tr("Female")),
            ("M", self.tr("Male")),
            ("O", self.tr("Other")),
        ):
            self.sex.addItem(text, code)
        self.sex.currentIndexChanged.connect(
            lambda _i: self._changed("sex", self.sex.currentData())
        )
        grid.addRow(self.tr("Sex"), self.sex)
        self.birth = self._line("birth_date", self.tr("Date of birth"), grid)
        self.birth.setPlaceholderText(self.tr("year-month-day, e.g. 1956-03-15"))
        self.phone = self._line("phone", self.tr("Phone"), grid)
        self.address = self._line("address", self.tr("Address"), grid)
        self.allergies = self._line("allergies", self.tr("Allergies"), grid)
        self.chronic = self._line("chronic_conditions", self.tr("Chronic conditions"), grid)
        self.chronic.setPlaceholderText(self.tr("e.g. hypertension, type 2 diabetes"))
        self.number = self._line("patient_number", self.tr("Clinic patient number"), grid)
        layout.addLayout(grid)
        self.derived = QLabel()
        self.derived.setObjectName("derivedFromId")
        self.derived.setWordWrap(True)
        layout.addWidget(self.derived)
        self.problems = QLabel()
        self.problems.setObjectName("problems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #b00020;")
        layout.addWidget(self.problems)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.try_save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._load()

    def _line(self, key: str, label: str, grid: QFormLayout) -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(key)
        edit.textEdited.connect(lambda text, key=key: self._changed(key, text))
        grid.addRow(label, edit)
        self.edits[key] = edit
        return edit

    def _load(self) -> None:
        for key, edit in self.edits.items():
            edit.setText(str(self.form.values.get(key, "") or ""))
        self.sex.setCurrentIndex(max(0, self.sex.findData(self.form.values.get("sex", "U"))))

    def _changed(self, key: str, value: Any) -> None:
        self.form.set(key, value)
        if key == "id_card":
            # What the number says fills empty fields (shown, never silently overwritten).
            if not self.birth.text() and self.form.values.get("birth_date"):
                self.birth.setText(self.form.values["birth_date"])
            if self.sex.currentData() == "U" and self.form.values.get("sex") != "U":
                self.sex.blockSignals(True)
                self.sex.setCurrentIndex(self.sex.findData(self.form.values["sex"]))
                self.sex.blockSignals(False)
            if self.form.derived:
                from app.ui.sync.identity import sex_text

                self.derived.setText(
                    self.tr("From the ID number: born {date}, {sex}.").format(
                        date=self.form.derived["birth_date"],
                        sex=sex_text(self.form.derived["sex"]),
                    )
                )
            else:
                self.derived.clear()
        self.show_problems(only_typed=True)

    def show_problems(self, only_typed: bool = False) -> list[str]:
        """Show what is wrong (while typing: only fields already filled in)."""
        problems = self.form.problems()
        if only_typed:
            problems = [p for p in problems if p.code != "required"]
        sentences = [problem_sentence(p) for p in problems]
        self.problems.setText("\n".join(sentences))
        bad = {p.field.split(".")[0] for p in problems}
        for key, edit in self.edits.items():
            edit.setStyleSheet("border: 1px solid #b00020;" if key in bad else "")
        return sentences

    def try_save(self) -> None:
        """Save unless there are problems; a likely duplicate is offered first."""
        if self.show_problems():
            return
        duplicates = self.form.duplicates(self.existing)
        if duplicates:
            choice = DuplicateDialog(duplicates, self)
            result = choice.exec()
            if result == DuplicateDialog.USE_EXISTING:
                self.chosen_existing = choice.selected_id()
                self.accept()
            elif result == DuplicateDialog.SAVE_NEW:
                self.accept()
            return
        self.accept()


class DuplicateDialog(QDialog):
    """ "This patient may already be registered": use the existing one, or save anyway."""

    USE_EXISTING = 2
    SAVE_NEW = 3

    def __init__(self, duplicates: list[Duplicate], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.duplicates = duplicates
        self.setWindowTitle(self.tr("Possible duplicate"))
        layout = QVBoxLayout(self)
        intro = QLabel(
            self.tr(
                "This patient may already be registered. Use the existing record so that "
                "their history stays in one place."
            )
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.list = QListWidget()
        for d in duplicates:
            why = (
                self.tr("same resident ID number")
                if d.same_id_card
                else self.tr("same name and date of birth")
            )
            self.list.addItem(f"{identity_text(d.fields)} — {why}")
        self.list.setCurrentRow(0)
        layout.addWidget(self.list)
        buttons = QDialogButtonBox()
        use = QPushButton(self.tr("Use the existing patient"))
        use.setObjectName("useExisting")
        use.setDefault(True)
        new = QPushButton(self.tr("Save as a new patient"))
        new.setObjectName("saveNew")
        cancel = QPushButton(self.tr("Back to the form"))
        buttons.addButton(use, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(new, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(cancel, QDialogButtonBox.ButtonRole.RejectRole)
        use.clicked.connect(lambda: self.done(self.USE_EXISTING))
        new.clicked.connect(lambda: self.done(self.SAVE_NEW))
        cancel.clicked.connect(self.reject)
        layout.addWidget(buttons)

    def selected_id(self) -> str:
        return self.duplicates[max(0, self.list.currentRow())].doc_id
