"""DICOM network: the receiver switch, the inbox of received studies (matched or not), and
the actions on a study — match to a registry patient, attach to a consultation, send to the
PACS — plus the PACS search (query/retrieve)."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.ui.bridge import run_in_worker
from app.ui.dicom_net.service import DicomNetService, dicom_service, install_dicom_net
from app.ui.dicom_net.wording import net_error_text
from app.ui.sync.wiring import sync_session


class PickDialog(QDialog):
    """Choose one entry from a list (registry patient, consultation)."""

    def __init__(
        self, title: str, prompt: str, entries: list[tuple[str, Any]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(480, 360)
        layout = QVBoxLayout(self)
        label = QLabel(prompt)
        label.setWordWrap(True)
        layout.addWidget(label)
        self.list = QListWidget()
        for text, data in entries:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, data)
            self.list.addItem(item)
        if entries:
            self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _i: self.accept())
        layout.addWidget(self.list, 1)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def chosen(self) -> Any:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None


class DicomNetworkPage(QWidget):
    """The inbox of studies received over the network and what can be done with them."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.service: DicomNetService = dicom_service(context) or install_dicom_net(
            context, parent=self
        )
        self.studies: list[Any] = []
        layout = QVBoxLayout(self)

        top = QHBoxLayout()
        self.receive_box = QCheckBox(self.tr("Receive images from modalities and the PACS"))
        self.receive_box.setChecked(self.service.enabled)
        if context.settings.is_locked("dicom_receive_enabled"):
            self.receive_box.setEnabled(False)
            self.receive_box.setToolTip(self.tr("Set by your IT department."))
        self.receive_box.toggled.connect(self.service.set_enabled)
        self.state_label = QLabel("")
        self.state_label.setWordWrap(True)
        top.addWidget(self.receive_box)
        top.addWidget(self.state_label, 1)
        layout.addLayout(top)

        filters = QHBoxLayout()
        self.unmatched_only = QCheckBox(self.tr("Only studies not yet matched to a patient"))
        self.unmatched_only.toggled.connect(self._fill)
        filters.addWidget(self.unmatched_only)
        filters.addStretch(1)
        layout.addLayout(filters)

        self.table = QTableWidget(0, 7)
        self.table.setHorizontalHeaderLabels(
            [self.tr("Received"), self.tr("Patient (as sent)"), self.tr("Study date"),
             self.tr("Modality"), self.tr("Images"), self.tr("From"),
             self.tr("Registry patient")]
        )  # fmt: skip
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)
        self.empty = QLabel(
            self.tr(
                "No studies received yet. Set the CT or DR console to send to this computer "
                "(AE title and port are shown above), or search the PACS."
            )
        )
        self.empty.setWordWrap(True)
        layout.addWidget(self.empty)

        buttons = QHBoxLayout()
        self.view_button = QPushButton(self.tr("Open in viewer"))
        self.view_button.clicked.connect(self.open_in_viewer)
        self.match_button = QPushButton(self.tr("Match to patient…"))
        self.match_button.clicked.connect(self.match)
        self.attach_button = QPushButton(self.tr("Attach to consultation…"))
        self.attach_button.clicked.connect(self.attach)
        self.send_button = QPushButton(self.tr("Send to PACS…"))
        self.send_button.clicked.connect(self.send)
        self.query_button = QPushButton(self.tr("Search the PACS…"))
        self.query_button.clicked.connect(self.query)
        for b in (self.view_button, self.match_button, self.attach_button, self.send_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.query_button)
        layout.addLayout(buttons)

        # Reload at most once a second while a study streams in.
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(1000)
        self._reload_timer.timeout.connect(self.refresh)
        self._loading = False
        self.service.state_changed.connect(self._show_state)
        self.service.inbox_changed.connect(self._schedule_reload)
        context.on_change(self._on_context)
        self._show_state()
        self._update_buttons()
        self.refresh()

    # -- state ----------------------------------------------------------------------------
    def _show_state(self) -> None:
        from app.dicom_net.nodes import local_node

        s = self.service
        node = local_node(self.context.settings)
        if s.state == "listening":
            text = self.tr("Listening as AE title {ae} on port {port}.").format(
                ae=node.ae_title, port=s.port
            )
        elif s.state == "starting":
            text = self.tr("Starting…")
        elif s.state == "error":
            text = s.error
        else:
            text = self.tr("Not receiving. AE title {ae}, port {port}.").format(
                ae=node.ae_title, port=node.port
            )
        self.state_label.setText(text)
        self.state_label.setStyleSheet("color: #b00020;" if s.state == "error" else "")
        self.receive_box.blockSignals(True)
        self.receive_box.setChecked(s.enabled)
        self.receive_box.blockSignals(False)

    def _on_context(self, topic: str) -> None:
        if topic in ("sync", "records", "user"):
            self.refresh()

    def _profile(self) -> str:
        session = sync_session(self.context)
        return str(session.profile) if session is not None else ""

    def _schedule_reload(self) -> None:
        if not self._reload_timer.isActive():
            self._reload_timer.start()

    # -- inbox ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the inbox on a worker (and match new studies by patient ID first)."""
        if self._loading:
            self._schedule_reload()
            return
        self._loading = True
        session = sync_session(self.context)

        def load(inbox: Any) -> None:
            run_in_worker(_load, inbox, session, on_done=self._loaded, on_error=self._load_failed)

        self.service.with_inbox(load)

    def _loaded(self, studies: list[Any]) -> None:
        self._loading = False
        self.studies = studies
        self._fill()

    def _load_failed(self, exc: BaseException) -> None:
        self._loading = False
        self.state_label.setText(net_error_text(exc))

    def _visible(self) -> list[Any]:
        if self.unmatched_only.isChecked():
            return [s for s in self.studies if not s.matched_doc_id]
        return list(self.studies)

    def _fill(self) -> None:
        from app.dicom_viewer.index import display_name

        selected = self.selected()
        rows = self._visible()
        self.table.setRowCount(len(rows))
        for i, s in enumerate(rows):
            patient = " · ".join(x for x in (display_name(s.patient_name), s.patient_id) if x)
            matched = s.matched_label or self.tr("Not matched")
            values = (
                time.strftime("%Y-%m-%d %H:%M", time.localtime(s.last_received)),
                patient,
                dicom_date(s.study_date),
                s.modalities,
                str(s.instance_count),
                s.source,
                matched,
            )
            for j, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setData(Qt.ItemDataRole.UserRole, s.study_uid)
                if j == 6 and not s.matched_doc_id:
                    item.setForeground(Qt.GlobalColor.darkRed)
                self.table.setItem(i, j, item)
            if selected is not None and s.study_uid == selected.study_uid:
                self.table.selectRow(i)
        self.empty.setVisible(not rows)
        self._update_buttons()

    def selected(self) -> Any:
        """The selected study row, or None."""
        rows = {i.row() for i in self.table.selectedItems()}
        visible = self._visible()
        if not rows or min(rows) >= len(visible):
            return None
        return visible[min(rows)]

    def _update_buttons(self) -> None:
        study = self.selected()
        signed_in = sync_session(self.context) is not None
        self.match_button.setEnabled(study is not None and signed_in)
        self.attach_button.setEnabled(
            study is not None and signed_in and bool(study.matched_doc_id)
        )
        self.send_button.setEnabled(study is not None)
        self.view_button.setEnabled(study is not None)

    # -- actions --------------------------------------------------------------------------
    def match(self) -> None:
        """One click: choose the registry patient (same ID and name first); files untouched."""
        study, session = self.selected(), sync_session(self.context)
        if study is None or session is None:
            return
        from app.dicom_net.links import candidates, registry_patients

        def offer(patients: list[Any]) -> None:
            entries = [
                (self.tr("{name} · ID {id}").format(name=p.name, id=p.number or "—"), p)
                for p in candidates(study, patients)
            ]
            dialog = PickDialog(
                self.tr("Match to patient"),
                self.tr("Which registered patient is this study of? The received images are "
                        "not changed; only the link is recorded."),
                entries,
                self,
            )  # fmt: skip
            if not dialog.exec() or dialog.chosen() is None:
                return
            p = dialog.chosen()
            inbox = self.service.inbox
            if inbox is None:
                return
            run_in_worker(inbox.set_match, study.study_uid, session.profile, p.doc_id, p.name,
                          "manual", on_done=lambda _r: self.refresh())  # fmt: skip

        run_in_worker(registry_patients, session.store, on_done=offer)

    def attach(self, purpose: str = "received") -> None:
        """Attach the matched study to one of the patient's consultations."""
        study, session = self.selected(), sync_session(self.context)
        if study is None or session is None or not study.matched_doc_id:
            return
        from app.protocol.sync import DocType

        def consultations() -> list[Any]:
            return [
                d for d in session.store.list(DocType.consultation)
                if d.patient_id == study.matched_doc_id
            ]  # fmt: skip

        def offer(docs: list[Any]) -> None:
            if not docs:
                QMessageBox.information(
                    self, self.tr("Attach to consultation"),
                    self.tr("{name} has no consultation yet. Create one first.").format(
                        name=study.matched_label),
                )  # fmt: skip
                return
            no_reason = self.tr("(no reason given)")  # lupdate does not look inside f-strings
            entries = [
                (f"{d.fields.get('reason', '')[:60] or no_reason} · "
                 f"{d.updated_at[:10]}", d.id)
                for d in docs
            ]  # fmt: skip
            dialog = PickDialog(
                self.tr("Attach to consultation"),
                self.tr("Attach this study to which consultation of {name}?").format(
                    name=study.matched_label
                ),
                entries,
                self,
            )
            if dialog.exec() and dialog.chosen():
                self.attach_to(study.study_uid, study.matched_doc_id, dialog.chosen(), purpose)

        run_in_worker(consultations, on_done=offer)

    def attach_to(
        self, study_uid: str, patient_doc_id: str, consultation_id: str, purpose: str
    ) -> None:
        """Copy the study into the consultation (on a worker); says when it is done."""
        from app.dicom_net.links import attach_study

        session = sync_session(self.context)
        inbox = self.service.inbox
        if session is None or inbox is None:
            return
        run_in_worker(
            attach_study, inbox, session, study_uid, patient_doc_id, consultation_id, purpose,
            on_done=lambda _doc: self.state_label.setText(
                self.tr("The study was attached to the consultation.")),
            on_error=self._attach_failed,
        )  # fmt: skip

    def _attach_failed(self, exc: BaseException) -> None:
        QMessageBox.warning(self, self.tr("Attach to consultation"), net_error_text(exc))

    def open_in_viewer(self) -> None:
        """Show the selected study in the viewer under its patient's banner (the registry
        patient it is matched to, else the identity the modality sent), decrypted in memory
        only (never to disk)."""
        study, inbox = self.selected(), self.service.inbox
        window: Any = self.window()
        if study is None or inbox is None or not hasattr(window, "page"):
            return
        from functools import partial

        session = sync_session(self.context)

        def load() -> tuple[list[Any], dict[str, Any]]:
            patient = None
            if study.matched_doc_id and session is not None:
                doc = session.store.get(study.matched_doc_id)
                patient = dict(doc.fields) if doc is not None else None
            return inbox.instances(study.study_uid), patient or dicom_identity(study)

        def show(loaded: tuple[list[Any], dict[str, Any]]) -> None:
            rows, patient = loaded
            page = window.page("viewer")
            items = [(f"{r.sop_uid}.dcm", partial(inbox.read, r.sha256)) for r in rows]
            if hasattr(page, "show_case_images"):
                page.show_case_images(patient, items)
            elif hasattr(getattr(page, "viewer", None), "import_buffers"):
                page.viewer.import_buffers(items)
            else:
                return
            window.show_page("viewer")

        run_in_worker(load, on_done=show, on_error=self._view_failed)

    def _view_failed(self, exc: BaseException) -> None:
        QMessageBox.warning(self, self.tr("Open in viewer"), net_error_text(exc))

    def send(self) -> None:
        """Open the send dialog for the selected study."""
        study, inbox = self.selected(), self.service.inbox
        if study is None or inbox is None:
            return
        from functools import partial

        from app.dicom_net.scu import Outgoing
        from app.ui.dicom_net.send_dialog import SendDialog

        def open_dialog(rows: list[Any]) -> None:
            items = [Outgoing(f"{r.number:04d} {r.sop_uid}", partial(inbox.read, r.sha256))
                     for r in rows]  # fmt: skip
            title = " · ".join(x for x in (study.patient_id, dicom_date(study.study_date),
                                           study.modalities) if x)  # fmt: skip
            SendDialog(self.context.settings, items, title, self).exec()

        run_in_worker(inbox.instances, study.study_uid, on_done=open_dialog)

    def query(self, patient_id: str = "", on_retrieved: Any = None) -> None:
        """Open the PACS search (query/retrieve)."""
        from app.ui.dicom_net.query_dialog import QueryDialog

        QueryDialog(self.service, patient_id, on_retrieved, self).exec()
        self.refresh()


def _load(inbox: Any, session: Any) -> list[Any]:
    if session is not None:
        from app.dicom_net.links import auto_match, registry_patients

        auto_match(inbox, session.profile, registry_patients(session.store))
        return inbox.studies(session.profile)
    return inbox.studies("")


def dicom_identity(study: Any) -> dict[str, Any]:
    """Registry-style patient fields from what the modality sent (for the patient banner)."""
    from app.dicom_viewer.index import display_name

    birth = study.birth_date
    return {
        "name": display_name(study.patient_name) or study.patient_id,
        "patient_number": study.patient_id,
        "sex": {"M": "M", "F": "F"}.get(study.sex.upper(), ""),
        "birth_date": f"{birth[:4]}-{birth[4:6]}-{birth[6:8]}" if len(birth) == 8 else "",
    }


def dicom_date(value: str) -> str:
    """YYYYMMDD → YYYY-MM-DD for display."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 else value
