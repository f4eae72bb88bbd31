"""Patients: register patients offline, see their identity, records and sync state."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedLayout,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.protocol.sync import DocType
from app.ui.bridge import run_in_worker
from app.ui.pages.empty_state import EmptyState
from app.ui.pages.records_page import FollowsSyncSession
from app.ui.sync.identity import identity_parts, identity_text, sync_text
from app.ui.table_layout import stretch_keeping_whole
from app.ui.wording import error_text


class PatientDialog(QDialog):
    """Register a patient (works offline)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("New patient"))
        form = QFormLayout(self)
        self.name = QLineEdit()
        self.number = QLineEdit()
        self.sex = QComboBox()
        for code, text in (
            ("F", self.tr("Female")),
            ("M", self.tr("Male")),
            ("O", self.tr("Other")),
            ("U", self.tr("Unknown")),
        ):
            self.sex.addItem(text, code)
        self.birth = QLineEdit()
        self.birth.setPlaceholderText(self.tr("YYYY-MM-DD"))
        self.phone = QLineEdit()
        form.addRow(self.tr("Name"), self.name)
        form.addRow(self.tr("Patient ID"), self.number)
        form.addRow(self.tr("Sex"), self.sex)
        form.addRow(self.tr("Date of birth"), self.birth)
        form.addRow(self.tr("Phone"), self.phone)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def fields(self) -> dict[str, Any]:
        """The entered values."""
        return {
            "name": self.name.text().strip(),
            "patient_number": self.number.text().strip(),
            "sex": self.sex.currentData(),
            "birth_date": self.birth.text().strip(),
            "phone": self.phone.text().strip(),
        }


class VitalsDialog(QDialog):
    """Record vital signs for a patient."""

    FIELDS = ("bp_systolic", "bp_diastolic", "heart_rate", "spo2", "glucose", "temperature")

    def __init__(self, identity: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Record vital signs"))
        form = QFormLayout(self)
        form.addRow(QLabel(identity))
        labels = {
            "bp_systolic": self.tr("Systolic BP (mmHg)"),
            "bp_diastolic": self.tr("Diastolic BP (mmHg)"),
            "heart_rate": self.tr("Heart rate (/min)"),
            "spo2": self.tr("SpO2 (%)"),
            "glucose": self.tr("Blood glucose (mmol/L)"),
            "temperature": self.tr("Temperature (°C)"),
        }
        self.edits: dict[str, QLineEdit] = {}
        for key in self.FIELDS:
            self.edits[key] = QLineEdit()
            form.addRow(labels[key], self.edits[key])
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def fields(self) -> dict[str, Any]:
        """Numbers entered (blank fields left out; bad numbers are caught by validation)."""
        out: dict[str, Any] = {}
        for key, edit in self.edits.items():
            text = edit.text().strip()
            if text:
                try:
                    out[key] = (
                        float(text) if key in ("glucose", "temperature") else int(float(text))
                    )
                except ValueError:
                    out[key] = text
        return out


class PatientsPage(FollowsSyncSession, QWidget):
    """The patient list with identity columns and each patient's records."""

    COLUMNS = 5

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.patients: list[Any] = []
        self.sync_states: dict[
            str, Any
        ] = {}  # patient id -> ItemStatus, computed off the GUI thread
        self._generation = 0  # only the newest reload is shown (workers may finish out of order)
        self.stack = QStackedLayout(self)
        self.empty = EmptyState(
            self.tr("Patients"),
            self.tr(
                "Sign in to see and register patients. Registration works without a network connection."
            ),
        )
        self.stack.addWidget(self.empty)
        body = QWidget()
        outer = QVBoxLayout(body)
        bar = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("Search by name or patient ID"))
        self.search.textChanged.connect(self._fill)
        self.new_button = QPushButton(self.tr("New patient…"))
        self.new_button.clicked.connect(self.new_patient)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.new_button)
        outer.addLayout(bar)
        split = QSplitter()
        self.table = QTableWidget(0, self.COLUMNS)
        self.table.setHorizontalHeaderLabels(
            [
                self.tr("Name"),
                self.tr("Patient ID"),
                self.tr("Sex"),
                self.tr("Age"),
                self.tr("Sync"),
            ]
        )
        stretch_keeping_whole(self.table.horizontalHeader(), (1, 3))  # patient ID, age
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._show_selected)
        split.addWidget(self.table)
        detail = QWidget()
        dl = QVBoxLayout(detail)
        self.identity = QLabel()
        self.identity.setObjectName("patientIdentity")
        self.identity.setStyleSheet("font-weight: bold; font-size: 14px;")
        dl.addWidget(self.identity)
        self.records = QListWidget()
        dl.addWidget(self.records, 1)
        actions = QHBoxLayout()
        self.vitals_button = QPushButton(self.tr("Record vital signs…"))
        self.vitals_button.clicked.connect(self.record_vitals)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText(self.tr("Clinical note"))
        self.note_button = QPushButton(self.tr("Add note"))
        self.note_button.clicked.connect(self.add_note)
        actions.addWidget(self.vitals_button)
        actions.addWidget(self.note_edit, 1)
        actions.addWidget(self.note_button)
        dl.addLayout(actions)
        split.addWidget(detail)
        split.setSizes([500, 400])
        outer.addWidget(split, 1)
        self.stack.addWidget(body)
        self.follow_sync_session()

    # -- data ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload patients and their sync state off the GUI thread."""
        session = self._session()
        if session is None:
            return
        self._generation += 1
        generation = self._generation

        def load() -> list[tuple[Any, Any]]:
            return [(p, session.engine.item_status(p)) for p in session.store.list(DocType.patient)]

        run_in_worker(load, on_done=lambda rows: self._loaded(generation, rows))

    def _loaded(self, generation: int, rows: list[tuple[Any, Any]]) -> None:
        if generation != self._generation:
            return
        self.patients = sorted((p for p, _ in rows), key=lambda p: p.fields.get("name", ""))
        self.sync_states = {p.id: state for p, state in rows}
        self._fill()

    def _fill(self) -> None:
        needle = self.search.text().strip().lower()
        shown = [
            p
            for p in self.patients
            if not needle
            or needle in p.fields.get("name", "").lower()
            or needle in p.fields.get("patient_number", "").lower()
        ]
        self.table.setRowCount(len(shown))
        for row, p in enumerate(shown):
            state = self.sync_states.get(p.id)
            cells = [*identity_parts(p.fields), sync_text(state) if state is not None else ""]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(256, p.id)
                self.table.setItem(row, col, item)
        self._show_selected()

    def selected(self) -> Any:
        """The selected patient record or None."""
        items = self.table.selectedItems()
        if not items:
            return None
        doc_id = items[0].data(256)
        return next((p for p in self.patients if p.id == doc_id), None)

    def _show_selected(self) -> None:
        patient = self.selected()
        enabled = patient is not None
        for w in (self.vitals_button, self.note_button, self.note_edit):
            w.setEnabled(enabled)
        self.records.clear()
        if patient is None:
            self.identity.setText(self.tr("Select a patient"))
            return
        self.identity.setText(identity_text(patient.fields))
        session = self._session()
        if session is None:
            return

        def load() -> list[tuple[Any, Any]]:
            return [
                (d, session.engine.item_status(d))
                for d in session.store.list(patient_id=patient.id)
            ]

        run_in_worker(load, on_done=lambda rows: self._show_records(patient.id, rows))

    def _show_records(self, patient_id: str, rows: list[tuple[Any, Any]]) -> None:
        current = self.selected()
        if current is None or current.id != patient_id:
            return  # the selection moved on while this loaded
        self.records.clear()
        names = {
            DocType.consultation: self.tr("Consultation"),
            DocType.note: self.tr("Note"),
            DocType.vitals: self.tr("Vital signs"),
            DocType.attachment: self.tr("Attachment"),
            DocType.report: self.tr("Report"),
            DocType.annotation_set: self.tr("Annotations"),
        }
        for doc, state in rows:
            f = doc.fields
            summary = (
                f.get("reason")
                or f.get("text")
                or f.get("title")
                or ", ".join(
                    f"{k}={v}" for k, v in f.items() if v not in (None, "") and k != "measured_at"
                )
            )
            self.records.addItem(
                f"{names.get(doc.type, doc.type.value)} · {summary[:80]} · {sync_text(state)}"
            )

    # -- writes (local, instant; sync follows in the background) -------------------------
    def _write(self, fn: Any, *args: Any) -> None:
        def failed(exc: BaseException) -> None:
            QMessageBox.warning(self, self.tr("Not saved"), error_text(exc))

        run_in_worker(fn, *args, on_done=lambda _r: self.refresh(), on_error=failed)

    def new_patient(self) -> None:
        """Open the registration form."""
        session = self._session()
        dialog = PatientDialog(self)
        if session is not None and dialog.exec() == QDialog.DialogCode.Accepted:
            self._write(session.store.create, DocType.patient, dialog.fields())

    def record_vitals(self) -> None:
        """Record vital signs for the selected patient."""
        session, patient = self._session(), self.selected()
        if session is None or patient is None:
            return
        dialog = VitalsDialog(identity_text(patient.fields), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._write(session.store.create, DocType.vitals, dialog.fields(), patient.id)

    def add_note(self) -> None:
        """Add a clinical note to the selected patient."""
        session, patient = self._session(), self.selected()
        text = self.note_edit.text().strip()
        if session is None or patient is None or not text:
            return
        self.note_edit.clear()
        self._write(session.store.create, DocType.note, {"text": text}, patient.id)
