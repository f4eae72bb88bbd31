"""Consultations: requests with the patient's identity, lifecycle, attachments, sync state,
and conflict resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QStackedLayout,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.protocol.sync import DocType
from app.sync.errors import HubError
from app.ui.bridge import run_in_worker
from app.ui.pages.empty_state import EmptyState
from app.ui.pages.records_page import FollowsSyncSession
from app.ui.sync.conflict_dialog import ConflictDialog
from app.ui.sync.field_labels import status_text
from app.ui.sync.identity import identity_parts, identity_text, sync_text
from app.ui.table_layout import stretch_keeping_whole
from app.ui.wording import error_text


class ConsultationDialog(QDialog):
    """Write a consultation request for a patient (works offline)."""

    def __init__(self, patients: list[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("New consultation request"))
        form = QFormLayout(self)
        self.patient = QComboBox()
        for p in patients:
            self.patient.addItem(identity_text(p.fields), p.id)
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText(self.tr("Question for the specialist, history, findings"))
        self.urgency = QComboBox()
        for code, text in (
            ("routine", self.tr("Routine")),
            ("urgent", self.tr("Urgent")),
            ("emergency", self.tr("Emergency")),
        ):
            self.urgency.addItem(text, code)
        self.department = QLineEdit()
        form.addRow(self.tr("Patient"), self.patient)
        form.addRow(self.tr("Reason"), self.reason)
        form.addRow(self.tr("Urgency"), self.urgency)
        form.addRow(self.tr("Department"), self.department)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> tuple[str, dict[str, Any]]:
        """(patient id, fields)."""
        return self.patient.currentData(), {
            "status": "draft",
            "reason": self.reason.toPlainText().strip(),
            "urgency": self.urgency.currentData(),
            "department": self.department.text().strip(),
        }


# A call needs someone on the other side: an accepted or scheduled consultation (or a call
# that dropped and is being resumed).
CALLABLE_STATUSES = ("accepted", "scheduled", "in_call")


class ConsultationsPage(FollowsSyncSession, QWidget):
    """The consultation list: patient identity, status, reason, urgency, sync state."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.rows: list[tuple[Any, Any, Any]] = []  # (consultation, patient fields, item status)
        self.stack = QStackedLayout(self)
        self.stack.addWidget(
            EmptyState(
                self.tr("Consultations"),
                self.tr(
                    "Consultation requests, the specialist worklist and reports appear here once you are signed in and the records have synced."
                ),
            )
        )
        body = QWidget()
        outer = QVBoxLayout(body)
        bar = QHBoxLayout()
        self.new_button = QPushButton(self.tr("New request…"))
        self.new_button.clicked.connect(self.new_consultation)
        self.submit_button = QPushButton(self.tr("Submit"))
        self.submit_button.clicked.connect(self.submit)
        self.attach_button = QPushButton(self.tr("Attach files…"))
        self.attach_button.clicked.connect(self.attach)
        self.conflict_button = QPushButton(self.tr("Resolve conflict…"))
        self.conflict_button.clicked.connect(self.resolve)
        self.call_button = QPushButton(self.tr("Video call"))
        self.call_button.setObjectName("call_button")
        self.call_button.setToolTip(self.tr("Call the other side of this consultation"))
        self.call_button.clicked.connect(self.start_call)
        for b in (
            self.new_button,
            self.submit_button,
            self.attach_button,
            self.conflict_button,
            self.call_button,
        ):
            bar.addWidget(b)
        bar.addStretch(1)
        outer.addLayout(bar)
        headers = [
            self.tr("Patient"),
            self.tr("Patient ID"),
            self.tr("Sex"),
            self.tr("Age"),
            self.tr("Status"),
            self.tr("Reason"),
            self.tr("Urgency"),
            self.tr("Sync"),
        ]
        self.table = QTableWidget(0, len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        stretch_keeping_whole(self.table.horizontalHeader(), (1, 3))  # patient ID, age
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        outer.addWidget(self.table, 1)
        self.stack.addWidget(body)
        self.follow_sync_session()

    def refresh(self) -> None:
        """Reload consultations (and their patients' identity) off the GUI thread."""
        session = self._session()
        if session is None:
            return

        def load() -> list[tuple[Any, Any, Any]]:
            out = []
            for c in session.store.list(DocType.consultation):
                patient = session.store.get(c.patient_id) if c.patient_id else None
                out.append((c, patient.fields if patient else None, session.engine.item_status(c)))
            return out

        run_in_worker(load, on_done=self._loaded)

    def _loaded(self, rows: list[tuple[Any, Any, Any]]) -> None:
        self.rows = rows
        urgency = {
            "routine": self.tr("Routine"),
            "urgent": self.tr("Urgent"),
            "emergency": self.tr("Emergency"),
        }
        self.table.setRowCount(len(rows))
        for r, (c, patient, item) in enumerate(rows):
            cells = [
                *identity_parts(patient),
                status_text(c.fields.get("status", "")),
                c.fields.get("reason", "")[:60],
                urgency.get(c.fields.get("urgency", ""), ""),
                sync_text(item),
            ]
            for col, text in enumerate(cells):
                self.table.setItem(r, col, QTableWidgetItem(text))
        self._update_buttons()

    def selected(self) -> tuple[Any, Any, Any] | None:
        """(consultation, patient fields, item status) of the selected row."""
        rows = {i.row() for i in self.table.selectedItems()}
        if len(rows) != 1:
            return None
        return self.rows[rows.pop()]

    def _update_buttons(self) -> None:
        sel = self.selected()
        self.submit_button.setEnabled(sel is not None and sel[0].fields.get("status") == "draft")
        self.attach_button.setEnabled(sel is not None)
        self.conflict_button.setEnabled(sel is not None and sel[0].conflict is not None)
        self.call_button.setEnabled(
            sel is not None and sel[0].fields.get("status") in CALLABLE_STATUSES
        )

    def start_call(self) -> None:
        """Ring the other participants of the selected consultation and show the Call page."""
        sel = self.selected()
        if sel is None:
            return
        from app.ui.call.service import call_service  # the media stack: only when calling

        call_service(self.context).call(str(sel[0].id))
        window = self.window()
        if hasattr(window, "show_page"):
            window.show_page("call")

    def _write(self, fn: Any, *args: Any) -> None:
        def failed(exc: BaseException) -> None:
            QMessageBox.warning(self, self.tr("Not saved"), error_text(exc))

        run_in_worker(fn, *args, on_done=lambda _r: self.refresh(), on_error=failed)

    def new_consultation(self) -> None:
        """Write a new request (patients are loaded off the GUI thread first)."""
        session = self._session()
        if session is None:
            return

        def open_dialog(patients: list[Any]) -> None:
            if not patients:
                QMessageBox.information(
                    self, self.tr("No patients"), self.tr("Register the patient first.")
                )
                return
            dialog = ConsultationDialog(patients, self)
            if dialog.exec() == QDialog.DialogCode.Accepted:
                patient_id, fields = dialog.values()
                self._write(session.store.create, DocType.consultation, fields, patient_id)

        run_in_worker(lambda: session.store.list(DocType.patient), on_done=open_dialog)

    def submit(self) -> None:
        """Send the selected draft to the specialists (draft → submitted)."""
        session, sel = self._session(), self.selected()
        if session is not None and sel is not None:
            self._write(session.store.update, sel[0].id, {"status": "submitted"})

    def attach(self, paths: list[str] | None = None) -> None:
        """Attach DICOM, photos, ECG or PDF files to the selected consultation."""
        from app.sync.attachments import attach_files

        session, sel = self._session(), self.selected()
        if session is None or sel is None:
            return
        if not paths:
            paths, _ = QFileDialog.getOpenFileNames(self, self.tr("Attach files"))
        if paths:
            consultation = sel[0]
            self._write(
                attach_files,
                session.store,
                session.blobs,
                [Path(p) for p in paths],
                consultation.patient_id,
                consultation.id,
            )

    def resolve(self) -> None:
        """Open the side-by-side conflict dialog for the selected consultation."""
        session, sel = self._session(), self.selected()
        if session is None or sel is None or sel[0].conflict is None:
            return
        doc, patient = sel[0], sel[1]
        me = self.context.user

        def names() -> dict[str, str]:
            """Display names from the hub; offline, ids we cannot name show as unknown."""
            try:
                known = (
                    session.engine.client.clone().display_names()
                )  # own connection: the engine uses its own
            except HubError:
                known = {}
            if getattr(me, "id", "") and getattr(me, "display_name", ""):
                known.setdefault(me.id, me.display_name)
            return known

        def open_dialog(known: dict[str, str]) -> None:
            dialog = ConflictDialog(doc, identity_text(patient), self, names=known)
            try:
                if dialog.exec() == QDialog.DialogCode.Accepted:
                    self._write(session.store.resolve_conflict, doc.id, dialog.chosen_fields())
            finally:
                dialog.deleteLater()

        run_in_worker(names, on_done=open_dialog)
