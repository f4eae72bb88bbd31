"""Consultations: the worklist (a specialist's requests for them and their department; a
clinic's own requests and who has them), the request form and the case screen."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
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
from app.ui.bridge import NewestOnly, run_in_worker, run_network
from app.ui.pages.empty_state import EmptyState
from app.ui.pages.records_page import FollowsSyncSession
from app.ui.sync.conflict_dialog import ConflictDialog
from app.ui.sync.identity import identity_parts, identity_text, sync_text
from app.ui.table_layout import stretch_keeping_whole
from app.ui.workflow.directory import Directory, load_directory
from app.ui.workflow.labels import status_text, type_text, urgency_text
from app.ui.workflow.wording import problems_text
from app.ui.workflow.worklist_model import WorklistModel

# Stack pages
EMPTY, WORKLIST, FORM, CASE = range(4)


def waiting_text(seconds: float) -> str:
    """How long a request has waited, in words."""
    from PySide6.QtCore import QCoreApplication

    minutes = int(seconds // 60)
    if minutes < 1:
        return QCoreApplication.translate("Worklist", "just now")
    if minutes < 60:
        return QCoreApplication.translate("Worklist", "{n} min").format(n=minutes)
    hours = minutes // 60
    if hours < 48:
        return QCoreApplication.translate("Worklist", "{h} h {m} min").format(
            h=hours, m=minutes % 60
        )
    return QCoreApplication.translate("Worklist", "{d} days").format(d=hours // 24)


class ConsultationsPage(FollowsSyncSession, QWidget):
    """Worklist ↔ request form ↔ case screen."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.model = WorklistModel(context.user)
        self.directory = Directory()
        self.form_widget: Any = None
        self.case_view: Any = None
        self._worklist_load = NewestOnly()  # only the newest reload is shown
        self._directory_loaded_for: Any = None
        self.docs: dict[str, Any] = {}
        self.item_states: dict[str, Any] = {}
        self.stack = QStackedLayout(self)
        self.stack.addWidget(
            EmptyState(
                self.tr("Consultations"),
                self.tr(
                    "Consultation requests, the specialist worklist and reports appear here once you are signed in and the records have synced."
                ),
            )
        )
        self.stack.addWidget(self._build_worklist())
        self.form_host = QWidget()
        self._form_layout = QVBoxLayout(self.form_host)
        self._form_layout.setContentsMargins(0, 0, 0, 0)
        self.stack.addWidget(self.form_host)
        self.case_host = QWidget()
        self._case_layout = QVBoxLayout(self.case_host)
        self._case_layout.setContentsMargins(0, 0, 0, 0)
        self.stack.addWidget(self.case_host)
        self.tick = QTimer(self)  # waiting times move on
        self.tick.setInterval(60_000)
        self.tick.timeout.connect(self._fill)
        self.tick.start()
        self.follow_sync_session()

    # -- worklist ------------------------------------------------------------------------
    def _build_worklist(self) -> QWidget:
        body = QWidget()
        outer = QVBoxLayout(body)
        self.heading = QLabel()
        self.heading.setObjectName("worklistHeading")
        self.heading.setStyleSheet("font-size: 15px; font-weight: bold;")
        outer.addWidget(self.heading)
        bar = QHBoxLayout()
        self.status_filter = QComboBox()
        self.status_filter.setObjectName("statusFilter")
        self.status_filter.addItem(self.tr("Open and recent"), "")
        for s in (
            "draft",
            "submitted",
            "accepted",
            "scheduled",
            "in_call",
            "reported",
            "declined",
            "withdrawn",
            "closed",
        ):
            self.status_filter.addItem(status_text(s), s)
        self.urgency_filter = QComboBox()
        self.urgency_filter.setObjectName("urgencyFilter")
        self.urgency_filter.addItem(self.tr("Any urgency"), "")
        for u in ("emergency", "urgent", "routine"):
            self.urgency_filter.addItem(urgency_text(u), u)
        self.type_filter = QComboBox()
        self.type_filter.setObjectName("typeFilter")
        self.type_filter.addItem(self.tr("Any type"), "")
        for k in ("video", "imaging", "ecg"):
            self.type_filter.addItem(type_text(k), k)
        self.facility_filter = QComboBox()
        self.facility_filter.setObjectName("facilityFilter")
        self.facility_filter.addItem(self.tr("Any requesting facility"), "")
        self.sort = QComboBox()
        self.sort.setObjectName("sort")
        for key, text in (
            ("urgency", self.tr("Sort: urgency, then waiting time")),
            ("waiting", self.tr("Sort: waiting time")),
            ("status", self.tr("Sort: status")),
            ("facility", self.tr("Sort: requesting facility")),
            ("type", self.tr("Sort: type")),
        ):
            self.sort.addItem(text, key)
        self.show_closed = QCheckBox(self.tr("Show finished"))
        for w in (
            self.status_filter,
            self.urgency_filter,
            self.type_filter,
            self.facility_filter,
            self.sort,
        ):
            w.currentIndexChanged.connect(self._filters_changed)
            # long item texts must not widen the window past the screen (layout probe)
            w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            w.setMinimumContentsLength(8)
            bar.addWidget(w)
        self.show_closed.toggled.connect(self._filters_changed)
        bar.addWidget(self.show_closed)
        bar.addStretch(1)
        self.new_button = QPushButton(self.tr("New request…"))
        self.new_button.setObjectName("newRequest")
        self.new_button.clicked.connect(self.new_request_for_selected_patient)
        self.open_button = QPushButton(self.tr("Open case"))
        self.open_button.setObjectName("openCase")
        self.open_button.clicked.connect(self._open_selected)
        self.conflict_button = QPushButton(self.tr("Resolve conflict…"))
        self.conflict_button.clicked.connect(self.resolve)
        self.conflict_button.setEnabled(False)
        outer.addLayout(bar)
        actions = QHBoxLayout()  # a row of its own: the filters take the width
        actions.addWidget(self.new_button)
        actions.addWidget(self.open_button)
        actions.addWidget(self.conflict_button)
        actions.addStretch(1)
        outer.addLayout(actions)
        headers = [
            self.tr("Patient"),
            self.tr("Patient ID"),
            self.tr("Sex"),
            self.tr("Age"),
            self.tr("Type"),
            self.tr("Urgency"),
            self.tr("Status"),
            self.tr("From"),
            self.tr("Who has it"),
            self.tr("Waiting"),
            self.tr("Sync"),
        ]
        self.table = QTableWidget(0, len(headers))
        self.table.setObjectName("worklist")
        self.table.setHorizontalHeaderLabels(headers)
        stretch_keeping_whole(self.table.horizontalHeader(), (1, 3))  # patient ID, age
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.doubleClicked.connect(lambda _i: self._open_selected())
        self.table.itemSelectionChanged.connect(self._selection_changed)
        outer.addWidget(self.table, 1)
        return body

    def _role(self) -> str:
        return str(getattr(self.context.user, "role", "") or "")

    def _on_context(self, topic: str) -> None:
        if topic not in ("sync", "records", "user"):
            return
        session = self._session()
        if session is None:
            self.stack.setCurrentIndex(EMPTY)
            return
        if self.stack.currentIndex() == EMPTY:
            self.stack.setCurrentIndex(WORKLIST)
        self.refresh()

    def refresh(self) -> None:
        """Reload the worklist (and the open case) off the GUI thread."""
        session = self._session()
        if session is None:
            return
        self.model.user = self.context.user
        if self._directory_loaded_for is not session:
            self._directory_loaded_for = session
            run_network(load_directory, session, on_done=self._directory_loaded)

        def load() -> tuple[list[Any], dict[str, Any], dict[str, str]]:
            docs = session.store.list(DocType.consultation)
            patients = {
                p.id: p.fields for p in session.store.list(DocType.patient, include_deleted=True)
            }
            states = {d.id: session.engine.item_status(d) for d in docs}
            return docs, patients, states

        run_in_worker(load, on_done=self._worklist_load.deliver(lambda r: self._loaded(*r)))
        if self.case_view is not None and self.stack.currentIndex() == CASE:
            self.case_view.reload()

    def _directory_loaded(self, directory: Directory) -> None:
        self.directory.response = directory.response
        self._fill_facility_filter()
        self._fill()
        if self.case_view is not None and self.case_view.case is not None:
            self.case_view.reload()  # hospital and specialist names

    def _loaded(self, docs: list[Any], patients: dict[str, Any], states: dict[str, Any]) -> None:
        session = self._session()
        own = session.store.facility_id if session is not None else ""
        self.docs = {d.id: d for d in docs}
        self.item_states = states
        self.model.load(docs, patients, {k: v.state for k, v in states.items()}, own)
        self._fill_facility_filter()
        self._fill()

    def _fill_facility_filter(self) -> None:
        current = self.facility_filter.currentData()
        self.facility_filter.blockSignals(True)
        self.facility_filter.clear()
        self.facility_filter.addItem(self.tr("Any requesting facility"), "")
        for fid in self.model.facilities():
            self.facility_filter.addItem(self.directory.facility_name(fid) or fid, fid)
        self.facility_filter.setCurrentIndex(max(0, self.facility_filter.findData(current)))
        self.facility_filter.blockSignals(False)

    def _filters_changed(self, *_args: Any) -> None:
        f = self.model.filters
        status = self.status_filter.currentData()
        f.statuses = {status} if status else set()
        urgency = self.urgency_filter.currentData()
        f.urgencies = {urgency} if urgency else set()
        kind = self.type_filter.currentData()
        f.kinds = {kind} if kind else set()
        f.facility_id = self.facility_filter.currentData() or ""
        f.show_closed = self.show_closed.isChecked()
        self.model.sort = self.sort.currentData() or "urgency"
        self._fill()

    def _fill(self) -> None:
        clinic = self._role() in ("clinic_doctor",)
        self.heading.setText(
            self.tr("Our consultation requests")
            if clinic
            else self.tr("Worklist: requests for me and my department")
        )
        self.new_button.setVisible(clinic or self._role() == "admin")
        rows = self.model.visible()
        now = self.model.now()
        d = self.directory
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            name, number, sex, age = identity_parts(row.patient)
            f = row.fields
            holder = d.person_name(str(f.get("specialist_id", ""))) or " · ".join(
                x
                for x in (
                    d.facility_name(str(f.get("target_facility_id", ""))),
                    f.get("department", ""),
                )
                if x
            )
            item_state = self.item_states.get(row.id)
            cells = [
                name,
                number,
                sex,
                age,
                type_text(row.kind),
                urgency_text(row.urgency),
                status_text(row.status),
                d.facility_name(row.requesting_facility_id) or "",
                holder,
                waiting_text(row.waiting_s(now)) if row.submitted_at else "",
                sync_text(item_state) if item_state is not None else "",
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row.id)
                if col == 5 and row.urgency == "emergency":
                    item.setForeground(Qt.GlobalColor.red)
                self.table.setItem(r, col, item)

    def _selection_changed(self) -> None:
        doc = self.docs.get(self.selected_id() or "")
        self.conflict_button.setEnabled(doc is not None and doc.conflict is not None)

    def resolve(self) -> None:
        """Open the side-by-side conflict dialog for the selected consultation."""
        session = self._session()
        doc = self.docs.get(self.selected_id() or "")
        if session is None or doc is None or doc.conflict is None:
            return
        row = self.model.row(doc.id)
        patient = row.patient if row is not None else None
        me = self.context.user

        def names() -> dict[str, str]:
            """Display names from the hub; offline, ids we cannot name show as unknown."""
            try:
                known = session.engine.client.clone().display_names()  # its own connection
            except HubError:
                known = {}
            if getattr(me, "id", "") and getattr(me, "display_name", ""):
                known.setdefault(me.id, me.display_name)
            return known

        def open_dialog(known: dict[str, str]) -> None:
            dialog = ConflictDialog(doc, identity_text(patient), self, names=known)
            try:
                if dialog.exec() == QDialog.DialogCode.Accepted:
                    run_in_worker(
                        session.store.resolve_conflict,
                        doc.id,
                        dialog.chosen_fields(),
                        on_done=lambda _r: self.refresh(),
                        on_error=lambda exc: QMessageBox.warning(
                            self, self.tr("Not saved"), problems_text(exc)
                        ),
                    )
            finally:
                dialog.deleteLater()

        run_in_worker(names, on_done=open_dialog)

    def selected_id(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def visible_ids(self) -> list[str]:
        return [r.id for r in self.model.visible()]

    def _open_selected(self) -> None:
        cid = self.selected_id()
        if cid:
            row = self.model.row(cid)
            if row is not None and row.status == "draft" and row.side.value == "requester":
                self.continue_request(cid)
            else:
                self.open_case(cid)

    # -- case ----------------------------------------------------------------------------
    def open_case(self, consultation_id: str) -> Any:
        """Show the case screen of a consultation (returns the CaseView)."""
        session = self._session()
        if session is None:
            return None
        from app.ui.workflow.case_view import CaseView

        if self.case_view is None or self.case_view.session is not session:
            if self.case_view is not None:
                self.case_view.deleteLater()
            self.case_view = CaseView(self.context, session, self.directory)
            self.case_view.back.connect(self.show_worklist)
            self.case_view.changed.connect(self.refresh)
            self._case_layout.addWidget(self.case_view)
        self.case_view.show_case(consultation_id)
        self.stack.setCurrentIndex(CASE)
        return self.case_view

    def show_worklist(self) -> None:
        self.stack.setCurrentIndex(WORKLIST)
        self.refresh()

    # -- request form --------------------------------------------------------------------
    def new_request_for_selected_patient(self) -> None:
        """From the worklist: pick the patient on the Patients page first."""
        window = self.window()
        if hasattr(window, "show_page"):
            window.show_page("patients")
            QMessageBox.information(
                self,
                self.tr("New request"),
                self.tr("Choose or register the patient, then press “New consultation request”."),
            )

    def new_request(self, patient_id: str) -> None:
        """Open an empty request form for a patient (``form_widget`` once loaded)."""
        from app.ui.workflow.request_model import RequestForm

        self._open_form(RequestForm(patient_id))

    def continue_request(self, consultation_id: str) -> None:
        """Open a draft (or a declined request being revised) in the form."""
        session = self._session()
        if session is None:
            return
        from app.ui.workflow.request_model import RequestForm

        def opened(doc: Any) -> None:
            if doc is not None:
                self._open_form(RequestForm.from_draft(doc))

        run_in_worker(session.store.get, consultation_id, on_done=opened)

    def _open_form(self, form: Any) -> None:
        session = self._session()
        if session is None:
            return
        run_in_worker(
            session.store.get, form.patient_id, on_done=lambda p: self._show_form(form, p)
        )

    def _show_form(self, form: Any, patient: Any) -> None:
        session = self._session()
        if session is None:
            return
        from app.ui.workflow.request_form import RequestFormWidget

        if self.form_widget is not None:
            self.form_widget.timer.stop()
            self.form_widget.deleteLater()
        self.form_widget = RequestFormWidget(
            session,
            self.context.user,
            form,
            patient.fields if patient is not None else None,
            self.directory,
        )
        self.form_widget.submitted.connect(self._submitted)
        self.form_widget.closed.connect(self.show_worklist)
        self._form_layout.addWidget(self.form_widget)
        self.stack.setCurrentIndex(FORM)

    def _submitted(self, consultation_id: str) -> None:
        window = self.window()
        if hasattr(window, "flash"):
            window.flash(self.tr("Request submitted; it goes out with the next sync."))
        self.open_case(consultation_id)
