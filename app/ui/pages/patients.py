"""Patients: the clinic's registry (search by name, pinyin initials, resident ID, phone or
clinic number), each patient's readable history, and the chronic-disease follow-up chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
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
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.protocol.sync import DocType
from app.ui.bridge import NewestOnly, run_in_worker
from app.ui.pages.empty_state import EmptyState
from app.ui.pages.records_page import FollowsSyncSession
from app.ui.sync.identity import identity_parts, identity_text, sync_text
from app.ui.table_layout import stretch_keeping_whole
from app.ui.wording import problem_text
from app.ui.workflow.chart_model import build_panels
from app.ui.workflow.patient_dialog import PatientDialog
from app.ui.workflow.patient_search import PatientIndex
from app.ui.workflow.record_text import describe
from app.ui.workflow.registry_model import PatientForm
from app.ui.workflow.vitals_chart import VitalsChart
from app.ui.workflow.wording import problems_text


class VitalsDialog(QDialog):
    """Record a follow-up visit's vital signs for a patient."""

    FIELDS = (
        "bp_systolic",
        "bp_diastolic",
        "heart_rate",
        "spo2",
        "glucose",
        "temperature",
        "weight",
    )

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
            "weight": self.tr("Weight (kg)"),
        }
        self.edits: dict[str, QLineEdit] = {}
        for key in self.FIELDS:
            self.edits[key] = QLineEdit()
            self.edits[key].setObjectName(key)
            form.addRow(labels[key], self.edits[key])
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def fields(self) -> dict[str, Any]:
        """Numbers entered (blank fields left out; bad numbers are caught by validation)."""
        from datetime import datetime

        out: dict[str, Any] = {
            "measured_at": datetime.now().isoformat(timespec="minutes"),
            "source": "visit",
        }
        for key, edit in self.edits.items():
            text = edit.text().strip().replace(",", ".")
            if text:
                try:
                    number = float(text)
                    out[key] = (
                        number
                        if key in ("glucose", "temperature", "weight")
                        else int(number)
                        if number.is_integer()
                        else text
                    )
                except ValueError:
                    out[key] = text
        return out


class PatientsPage(FollowsSyncSession, QWidget):
    """The registry (left) and the selected patient's history and follow-up (right)."""

    request_consultation = Signal(str)  # patient id: "New consultation request" for them

    COLUMNS = 5

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.patients: dict[str, Any] = {}
        self.index = PatientIndex()
        self.sync_states: dict[str, Any] = {}
        self._patients_load = NewestOnly()
        self._records_load = NewestOnly()
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
        self.search.setObjectName("patientSearch")
        self.search.setPlaceholderText(
            self.tr("Search: name, pinyin initials, resident ID, phone or clinic number")
        )
        self.search.setClearButtonEnabled(True)
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
                self.tr("Clinic number"),
                self.tr("Sex"),
                self.tr("Age"),
                self.tr("Sync"),
            ]
        )
        # clinic number, age, resident ID
        stretch_keeping_whole(self.table.horizontalHeader(), (0, 1, 3))
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.table.doubleClicked.connect(lambda _i: self.edit_patient())
        split.addWidget(self.table)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        self.identity = QLabel()
        self.identity.setObjectName("patientIdentity")
        self.identity.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.identity.setWordWrap(True)
        dl.addWidget(self.identity)
        self.background = QLabel()
        self.background.setObjectName("patientBackground")
        self.background.setWordWrap(True)
        dl.addWidget(self.background)
        actions = QHBoxLayout()
        self.edit_button = QPushButton(self.tr("Edit…"))
        self.edit_button.clicked.connect(self.edit_patient)
        self.request_button = QPushButton(self.tr("New consultation request…"))
        self.request_button.setObjectName("newRequest")
        self.request_button.clicked.connect(self._request_for_selected)
        actions.addWidget(self.edit_button)
        actions.addWidget(self.request_button)
        actions.addStretch(1)
        dl.addLayout(actions)
        self.tabs = QTabWidget()
        history = QWidget()
        hl = QVBoxLayout(history)
        self.records = QListWidget()
        self.records.setObjectName("history")
        self.records.setWordWrap(True)
        hl.addWidget(self.records, 1)
        note_row = QHBoxLayout()
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText(self.tr("Clinical note"))
        self.note_button = QPushButton(self.tr("Add note"))
        self.note_button.clicked.connect(self.add_note)
        note_row.addWidget(self.note_edit, 1)
        note_row.addWidget(self.note_button)
        hl.addLayout(note_row)
        self.tabs.addTab(history, self.tr("History"))
        follow = QWidget()
        fl = QVBoxLayout(follow)
        self.chart = VitalsChart()
        fl.addWidget(self.chart, 1)
        frow = QHBoxLayout()
        self.vitals_button = QPushButton(self.tr("Record vital signs…"))
        self.vitals_button.clicked.connect(self.record_vitals)
        self.import_button = QPushButton(self.tr("Import home meter CSV…"))
        self.import_button.clicked.connect(self.import_csv)
        frow.addWidget(self.vitals_button)
        frow.addWidget(self.import_button)
        frow.addStretch(1)
        fl.addLayout(frow)
        self.import_result = QLabel()
        self.import_result.setObjectName("importResult")
        self.import_result.setWordWrap(True)
        fl.addWidget(self.import_result)
        self.tabs.addTab(follow, self.tr("Follow-up chart"))
        dl.addWidget(self.tabs, 1)
        split.addWidget(detail)
        split.setSizes([560, 520])
        outer.addWidget(split, 1)
        self.stack.addWidget(body)
        self.follow_sync_session()

    def _is_clinic(self) -> bool:
        role = str(getattr(self.context.user, "role", "clinic_doctor") or "clinic_doctor")
        return role in ("clinic_doctor", "admin")

    # -- data ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload patients, their search index and sync state off the GUI thread."""
        session = self._session()
        if session is None:
            return

        def load() -> tuple[dict[str, Any], PatientIndex, dict[str, Any]]:
            docs = session.store.list(DocType.patient)
            index = PatientIndex((p.id, p.fields) for p in docs)
            states = {p.id: session.engine.item_status(p) for p in docs}
            return {p.id: p for p in docs}, index, states

        run_in_worker(load, on_done=self._patients_load.deliver(lambda r: self._loaded(*r)))

    def _loaded(self, patients: dict[str, Any], index: PatientIndex, states: dict) -> None:
        self.patients, self.index, self.sync_states = patients, index, states
        self._fill()

    def _fill(self) -> None:
        selected = self.selected()
        shown = [self.patients[i] for i in self.index.search(self.search.text())]
        self.table.blockSignals(True)
        self.table.setRowCount(len(shown))
        for row, p in enumerate(shown):
            state = self.sync_states.get(p.id)
            # The resident ID and phone are in the detail's banner (and searchable here).
            cells = [*identity_parts(p.fields), sync_text(state) if state is not None else ""]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, p.id)
                self.table.setItem(row, col, item)
            if selected is not None and p.id == selected.id:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self._show_selected()

    def selected(self) -> Any:
        """The selected patient record or None."""
        items = self.table.selectedItems()
        if not items:
            return None
        return self.patients.get(items[0].data(Qt.ItemDataRole.UserRole))

    def select_patient(self, patient_id: str) -> None:
        """Select a patient by id (after registering, or from elsewhere)."""
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == patient_id:
                self.table.selectRow(row)
                return

    def _show_selected(self) -> None:
        patient = self.selected()
        enabled = patient is not None
        for w in (
            self.vitals_button,
            self.note_button,
            self.note_edit,
            self.import_button,
            self.edit_button,
        ):
            w.setEnabled(enabled)
        self.request_button.setEnabled(enabled and self._is_clinic())
        self.new_button.setEnabled(self._is_clinic())
        self.records.clear()
        if patient is None:
            self.identity.setText(self.tr("Select a patient"))
            self.background.clear()
            self.chart.set_panels([])
            return
        self.identity.setText(
            identity_text(patient.fields)
            + (f" · {patient.fields['id_card']}" if patient.fields.get("id_card") else "")
        )
        bits = []
        if patient.fields.get("allergies"):
            bits.append(self.tr("Allergies: {0}").format(patient.fields["allergies"]))
        if patient.fields.get("chronic_conditions"):
            bits.append(
                self.tr("Chronic conditions: {0}").format(patient.fields["chronic_conditions"])
            )
        self.background.setText("\n".join(bits))
        session = self._session()
        if session is None:
            return

        def load() -> list[Any]:
            return session.store.list(patient_id=patient.id)

        show = self._records_load.deliver(lambda docs: self._show_records(patient.id, docs))
        run_in_worker(load, on_done=show)

    def _show_records(self, patient_id: str, docs: list[Any]) -> None:
        current = self.selected()
        if current is None or current.id != patient_id:
            return  # the selection moved on while this loaded
        self.records.clear()
        samples = []
        for doc in docs:
            if doc.type == DocType.patient:
                continue
            self.records.addItem(describe(doc.type.value, doc.fields, doc.updated_at).one_line())
            if doc.type == DocType.vitals:
                when = doc.fields.get("measured_at") or doc.updated_at
                samples.append((when, doc.fields, doc.fields.get("source") or "vitals"))
            elif doc.type == DocType.consultation and doc.fields.get("vitals"):
                v = doc.fields["vitals"]
                samples.append((v.get("measured_at") or doc.updated_at, v, "consultation"))
        self.chart.set_panels(build_panels(samples))

    # -- writes (local, instant; sync follows in the background) -------------------------
    def _write(self, fn: Any, *args: Any, then: Any = None) -> None:
        def failed(exc: BaseException) -> None:
            QMessageBox.warning(self, self.tr("Not saved"), problems_text(exc))

        def done(result: Any) -> None:
            self.refresh()
            if then is not None:
                then(result)

        run_in_worker(fn, *args, on_done=done, on_error=failed)

    def new_patient(self) -> PatientDialog | None:
        """Open the registration form (returns it; it saves when accepted)."""
        return self._open_form(PatientForm())

    def edit_patient(self) -> PatientDialog | None:
        patient = self.selected()
        if patient is None:
            return None
        return self._open_form(PatientForm(values=dict(patient.fields), doc_id=patient.id))

    def _open_form(self, form: PatientForm) -> PatientDialog | None:
        session = self._session()
        if session is None:
            return None
        existing = [(p.id, p.fields) for p in self.patients.values()]
        dialog = PatientDialog(existing, form, self)
        dialog.accepted.connect(lambda: self._form_done(dialog))
        dialog.open()
        return dialog

    def _form_done(self, dialog: PatientDialog) -> None:
        session = self._session()
        if session is None:
            return
        if dialog.chosen_existing:
            self.search.clear()
            self.select_patient(dialog.chosen_existing)
            return
        form = dialog.form
        if form.doc_id:
            self._write(session.store.update, form.doc_id, form.fields())
        else:
            self._write(
                session.store.create,
                DocType.patient,
                form.fields(),
                then=lambda doc: self.select_patient(doc.id),
            )

    def _request_for_selected(self) -> None:
        patient = self.selected()
        if patient is not None:
            self.request_consultation.emit(patient.id)
            window = self.window()
            if hasattr(window, "new_request"):
                window.new_request(patient.id)

    def record_vitals(self) -> None:
        """Record a follow-up visit's vital signs for the selected patient."""
        session, patient = self._session(), self.selected()
        if session is None or patient is None:
            return
        dialog = VitalsDialog(identity_text(patient.fields), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._write(session.store.create, DocType.vitals, dialog.fields(), patient.id)

    def import_csv(self, path: str | None = None) -> None:
        """Import a home meter's CSV export: good rows become vitals, bad rows are listed by
        line number."""
        session, patient = self._session(), self.selected()
        if session is None or patient is None:
            return
        if not path:
            path, _ = QFileDialog.getOpenFileName(
                self, self.tr("Import home meter CSV"), "", self.tr("CSV files (*.csv)")
            )
        if not path:
            return

        def work() -> tuple[int, list[tuple[int, Any]]]:
            from app.consult.meter_csv import parse_meter_csv

            raw = Path(path).read_bytes()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("gb18030", errors="replace")  # older Chinese meter software
            rows, errors = parse_meter_csv(text)
            for fields in rows:
                session.store.create(DocType.vitals, fields, patient.id)
            return len(rows), errors

        def done(result: tuple[int, list[tuple[int, Any]]]) -> None:
            count, errors = result
            lines = [self.tr("{n} measurement(s) imported.").format(n=count)]
            if errors:
                lines.append(self.tr("Rows not imported:"))
                lines += [
                    self.tr("line {line}: {problem}").format(
                        line=line, problem=problem_text(problem)
                    )
                    for line, problem in errors[:30]
                ]
            self.import_result.setText("\n".join(lines))
            self.refresh()

        run_in_worker(
            work,
            on_done=done,
            on_error=lambda exc: self.import_result.setText(problems_text(exc)),
        )

    def add_note(self) -> None:
        """Add a clinical note to the selected patient."""
        session, patient = self._session(), self.selected()
        text = self.note_edit.text().strip()
        if session is None or patient is None or not text:
            return
        self.note_edit.clear()
        self._write(session.store.create, DocType.note, {"text": text}, patient.id)
