"""The case screen (both sides): the patient banner always on top; the request; attachments
with download progress (DICOM opens in the viewer straight from the encrypted store, photos
and PDFs open in the app); the timeline; the video call; the report and its amendments.

Buttons for lifecycle steps come from the shared table (``Case.actions``), so each side sees
only what it may do.
"""

from __future__ import annotations

import functools
import html
from typing import Any

from PySide6.QtCore import QCoreApplication, QDateTime, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.consult.workflow import take_action
from app.dicom_net.nodes import may_pull_priors
from app.ui.bridge import run_in_worker
from app.ui.main_window import main_window_of
from app.ui.workflow.banner import PatientBanner
from app.ui.workflow.case_model import Case, load_case, prefetch
from app.ui.workflow.directory import Directory
from app.ui.workflow.labels import (
    action_text,
    attachment_kind_text,
    consent_by_text,
    field_label,
    history_text,
    referral_text,
    status_text,
    type_text,
    urgency_text,
)
from app.ui.workflow.record_text import utc_date_text, vitals_lines
from app.ui.workflow.report_editor import ReportEditor
from app.ui.workflow.report_model import ReportForm
from app.ui.workflow.request_model import TEXT_FIELDS
from app.ui.workflow.wording import problems_text, sync_error_text


class TimeDialog(QDialog):
    """Pick a call time."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        form = QFormLayout(self)
        self.when = QDateTimeEdit(QDateTime.currentDateTime().addSecs(3600))
        self.when.setCalendarPopup(True)
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm")
        form.addRow(self.tr("Call time"), self.when)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def iso(self) -> str:
        return self.when.dateTime().toString(Qt.DateFormat.ISODateWithMs)[:16]


class CaseView(QWidget):
    """One consultation. ``back()`` when the user returns to the worklist."""

    back = Signal()
    changed = Signal()

    def __init__(
        self,
        context: Any,
        session: Any,
        directory: Directory,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.session = session
        self.directory = directory
        self.case: Case | None = None
        self.consultation_id = ""
        self.editor: ReportEditor | None = None
        self._loading = False
        self._reload_again = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.banner = PatientBanner()
        outer.addWidget(self.banner)
        top = QHBoxLayout()
        top.setContentsMargins(8, 4, 8, 0)
        self.back_button = QPushButton(self.tr("← Worklist"))
        self.back_button.clicked.connect(self.back)
        self.summary = QLabel()
        self.summary.setObjectName("caseSummary")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setMinimumHeight(self.fontMetrics().lineSpacing() * 3 + 4)
        top.addWidget(self.back_button, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.summary, 1)
        # Co-viewing (docs/coview.md): only while a call about this consultation is up.
        share_box = QVBoxLayout()
        self.share_button = QPushButton(self.tr("Share images"))
        self.share_button.setObjectName("shareImages")
        self.share_button.clicked.connect(self.share_images)
        self.share_hint = QLabel()
        self.share_hint.setObjectName("shareHint")
        self.share_hint.setStyleSheet("color: #666;")
        self.share_hint.setWordWrap(True)
        self.share_hint.setMaximumWidth(260)
        share_box.addWidget(self.share_button)
        share_box.addWidget(self.share_hint)
        share_box.addStretch(1)
        top.addLayout(share_box)
        self._calls: Any = None  # the CallService, once calls are set up
        outer.addLayout(top)
        self.actions_bar = QHBoxLayout()
        self.actions_bar.setContentsMargins(8, 0, 8, 0)
        self.actions_bar.setAlignment(Qt.AlignmentFlag.AlignLeft)
        outer.addLayout(self.actions_bar)
        outer.addSpacing(6)
        self.action_buttons: dict[str, QPushButton] = {}
        self.message = QLabel()
        self.message.setObjectName("caseMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b00020; padding: 0 8px;")
        outer.addWidget(self.message)

        self.tabs = QTabWidget()
        self.request_view = QTextBrowser()
        self.request_view.setObjectName("requestView")
        self.tabs.addTab(self.request_view, self.tr("Request"))
        att = QWidget()
        al = QVBoxLayout(att)
        self.attachments = QTableWidget(0, 4)
        self.attachments.setObjectName("attachments")
        self.attachments.setHorizontalHeaderLabels(
            [self.tr("Kind"), self.tr("Name"), self.tr("Size"), self.tr("Downloaded")]
        )
        self.attachments.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.attachments.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.attachments.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.attachments.doubleClicked.connect(lambda i: self.open_attachment(i.row()))
        al.addWidget(self.attachments, 1)
        arow = QHBoxLayout()
        self.open_button = QPushButton(self.tr("Open"))
        self.open_button.clicked.connect(
            lambda: self.open_attachment(self.attachments.currentRow())
        )
        self.images_button = QPushButton(self.tr("Open images in the viewer"))
        self.images_button.setObjectName("openImages")
        self.images_button.clicked.connect(self.open_images)
        self.received_button = QPushButton(self.tr("Attach a received study…"))
        self.received_button.setObjectName("attachReceived")
        self.received_button.clicked.connect(self.attach_received)
        self.priors_button = QPushButton(self.tr("Pull priors from the PACS…"))
        self.priors_button.setObjectName("pullPriors")
        self.priors_button.clicked.connect(self.pull_priors)
        arow.addWidget(self.open_button)
        arow.addWidget(self.images_button)
        arow.addWidget(self.received_button)
        arow.addWidget(self.priors_button)
        arow.addStretch(1)
        al.addLayout(arow)
        self.tabs.addTab(att, self.tr("Attachments"))
        self.timeline = QListWidget()
        self.timeline.setObjectName("timeline")
        self.tabs.addTab(self.timeline, self.tr("Timeline"))
        rep = QWidget()
        self.report_layout = QVBoxLayout(rep)
        self.report_view = QTextBrowser()
        self.report_view.setObjectName("reportView")
        self.report_layout.addWidget(self.report_view, 1)
        rrow = QHBoxLayout()
        self.write_button = QPushButton(self.tr("Write report…"))
        self.write_button.setObjectName("writeReport")
        self.write_button.clicked.connect(self.write_report)
        self.amend_button = QPushButton(self.tr("Amend signed report…"))
        self.amend_button.setObjectName("amendReport")
        self.amend_button.clicked.connect(lambda: self.amend_report())
        self.pdf_button = QPushButton(self.tr("Export PDF…"))
        self.pdf_button.setObjectName("exportPdf")
        self.pdf_button.clicked.connect(lambda: self.export_pdf())
        self.dicom_pdf_button = QPushButton(self.tr("Export for PACS (DICOM)…"))
        self.dicom_pdf_button.setObjectName("exportDicomPdf")
        self.dicom_pdf_button.clicked.connect(lambda: self.export_dicom_pdf())
        for b in (self.write_button, self.amend_button, self.pdf_button, self.dicom_pdf_button):
            rrow.addWidget(b)
        rrow.addStretch(1)
        self.report_layout.addLayout(rrow)
        self.tabs.addTab(rep, self.tr("Report"))
        outer.addWidget(self.tabs, 1)

        self.progress_timer = QTimer(self)
        self.progress_timer.setInterval(1000)
        self.progress_timer.timeout.connect(self.reload)
        self._pending_images = False

    # -- co-viewing ----------------------------------------------------------------------
    def _watch_calls(self) -> None:
        calls = self.context.services.get("calls") if hasattr(self.context, "services") else None
        if calls is not None and calls is not self._calls:
            self._calls = calls
            calls.call_event.connect(self._on_call_event)
        self._share_state()

    def _on_call_event(self, _event: object) -> None:
        self._share_state()

    def _share_state(self) -> None:
        """The Share images button works only in a call about this consultation; says why."""
        calls = self._calls
        if calls is None or not calls.in_call_about:
            reason = self.tr("Images can be shared during a video call about this consultation.")
        elif calls.in_call_about != self.consultation_id:
            reason = self.tr("The call under way is about another consultation.")
        elif self.case is not None and not any(
            a.kind in ("dicom", "ecg") for a in self.case.attachments
        ):
            reason = self.tr("This consultation has no images to share.")
        else:
            reason = ""
        self.share_button.setEnabled(not reason)
        self.share_button.setToolTip(
            reason or self.tr("Show this consultation's images to the other side of the call.")
        )
        self.share_hint.setText(reason)
        self.share_hint.setVisible(bool(reason))

    def share_images(self) -> None:
        """Start co-viewing the consultation's images in the call (the call page shares)."""
        calls = self._calls
        if calls is not None and calls.in_call_about == self.consultation_id:
            calls.share_requested.emit()

    # -- loading -----------------------------------------------------------------------
    def show_case(self, consultation_id: str) -> None:
        self.consultation_id = consultation_id
        self._watch_calls()
        self.case = None
        self.message.clear()
        self._close_editor()
        self.reload()

    def reload(self) -> None:
        if not self.consultation_id:
            return
        if self._loading:
            self._reload_again = True  # a change arrived while loading: load once more after
            return
        self._loading = True
        self._reload_again = False
        cid, session, user = self.consultation_id, self.session, self.context.user

        def load() -> Case | None:
            case = load_case(session, cid, user)
            if case is not None:
                prefetch(session, case)
            return case

        def done(case: Case | None) -> None:
            self._loading = False
            if cid == self.consultation_id:
                self._show(case)
            if self._reload_again:
                self.reload()

        def failed(exc: BaseException) -> None:
            self._loading = False
            self.message.setText(problems_text(exc))

        run_in_worker(load, on_done=done, on_error=failed)

    def _show(self, case: Case | None) -> None:
        self.case = case
        if case is None:
            self.summary.setText(self.tr("This consultation is not on this computer (yet)."))
            return
        self.banner.set_patient(case.patient)
        self._summary(case)
        self._watch_calls()
        self._actions(case)
        self._request(case)
        self._attachments(case)
        self._timeline(case)
        self._report(case)
        error = getattr(case.consultation, "sync_error", None)
        if error:
            self.message.setText(sync_error_text(error))
        incomplete = any(not a.complete for a in case.attachments)
        if incomplete or self._pending_images:
            self.progress_timer.start()
        else:
            self.progress_timer.stop()
        if self._pending_images and not any(
            not a.complete for a in case.attachments if a.kind == "dicom"
        ):
            self._pending_images = False
            self.open_images()

    def _summary(self, case: Case) -> None:
        f = case.fields
        d = self.directory
        who = " · ".join(
            x
            for x in (
                d.facility_name(f.get("target_facility_id", "")),
                f.get("department", ""),
                d.person_name(f.get("specialist_id", ""))
                or (self.tr("any specialist") if f.get("target_facility_id") else ""),
            )
            if x
        )
        requester = d.facility_name(str(case.consultation.facility_id or "")) or ""
        lines = [
            f"<b>{html.escape(type_text(f.get('consultation_type', 'video')))}</b> · "
            f"{html.escape(status_text(f.get('status', 'draft')))} · "
            f"{html.escape(urgency_text(f.get('urgency', 'routine')))}",
            html.escape(self.tr("From: {0}").format(requester or "—"))
            + " → "
            + html.escape(self.tr("To: {0}").format(who or "—")),
        ]
        if f.get("scheduled_at"):
            lines.append(
                html.escape(self.tr("Call time: {0}").format(utc_date_text(f["scheduled_at"])))
            )
        elif f.get("proposed_time"):
            by = (
                self.tr("the clinic")
                if f.get("proposed_by") == "requester"
                else self.tr("the specialist")
            )
            lines.append(
                html.escape(
                    self.tr("Call time proposed by {who}: {time}").format(
                        who=by, time=utc_date_text(f["proposed_time"])
                    )
                )
            )
        if f.get("decline_reason") and f.get("status") == "declined":
            lines.append(html.escape(self.tr("Declined: {0}").format(f["decline_reason"])))
        self.summary.setText("<br>".join(lines))

    def _actions(self, case: Case) -> None:
        while (item := self.actions_bar.takeAt(0)) is not None:
            w = item.widget()
            if w is not None:
                w.deleteLater()
        self.action_buttons = {}
        for action in case.actions:
            if action == "report":
                continue  # filed by signing in the report editor
            b = QPushButton(action_text(action))
            b.setObjectName(f"action_{action}")
            b.clicked.connect(lambda _=False, a=action: self.on_action(a))
            self.actions_bar.addWidget(b)
            b.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
            b.show()  # added to a visible screen: not shown until told
            self.action_buttons[action] = b
        self.actions_bar.addStretch(1)

    def _request(self, case: Case) -> None:
        f = case.fields
        parts = []
        if f.get("requested_time"):
            parts.append(
                f"<p><b>{html.escape(field_label('requested_time'))}</b>："
                f"{html.escape(utc_date_text(f['requested_time']))}</p>"
            )
        for key in TEXT_FIELDS:  # the request form's order
            if f.get(key):
                text = html.escape(str(f[key])).replace("\n", "<br>")
                parts.append(f"<p><b>{html.escape(field_label(key))}</b><br>{text}</p>")
        if f.get("vitals"):
            parts.append(
                f"<p><b>{html.escape(field_label('vitals'))}</b><br>"
                + html.escape("；".join(vitals_lines(f["vitals"])))
                + "</p>"
            )
        if f.get("diagnosis_name") or f.get("diagnosis_code"):
            title = self.tr("Preliminary diagnosis")  # outside the f-string, where lupdate sees it
            parts.append(
                f"<p><b>{html.escape(title)}</b><br>"
                f"{html.escape(str(f.get('diagnosis_code', '')))} "
                f"{html.escape(str(f.get('diagnosis_name', '')))}</p>"
            )
        consent = f.get("consent") or {}
        if consent:
            parts.append(
                f"<p><b>{html.escape(field_label('consent'))}</b><br>"
                + html.escape(
                    self.tr("Signed by {name} ({who}) on {when}").format(
                        name=consent.get("signer_name", ""),
                        who=consent_by_text(consent.get("given_by", "")),
                        when=utc_date_text(consent.get("signed_at", "")),
                    )
                )
                + "</p>"
            )
        self.request_view.setHtml("".join(parts))

    def _attachments(self, case: Case) -> None:
        self.attachments.setRowCount(len(case.attachments))
        for row, a in enumerate(case.attachments):
            cells = [attachment_kind_text(a.kind), a.name, _size_text(a.total)]
            for col, text in enumerate(cells):
                self.attachments.setItem(row, col, QTableWidgetItem(text))
            bar = QProgressBar()
            bar.setValue(a.percent)
            bar.setFormat(self.tr("on this computer") if a.complete else "%p%")
            self.attachments.setCellWidget(row, 3, bar)
        has_dicom = any(a.kind in ("dicom", "ecg") for a in case.attachments)
        self.images_button.setEnabled(has_dicom)
        # The clinic adds studies from its modalities (DICOM network) while the request is open;
        # either side may pull priors from its own PACS where IT's policy lets that side query.
        open_case = case.status not in ("closed", "withdrawn")
        self.received_button.setVisible(open_case and case.side.value == "requester")
        self.priors_button.setVisible(
            open_case and may_pull_priors(self.context.settings, case.side.value)
        )

    def _timeline(self, case: Case) -> None:
        self.timeline.clear()
        for e in case.timeline():
            who = e.get("by_name") or self.directory.person_name(str(e.get("by", ""))) or ""
            what = history_text(str(e.get("action", "")))
            if e.get("action") == "sign_report":
                what = self.tr("signed the report")
            elif e.get("action") == "amend":
                what = self.tr("signed an amendment")
            detail = e.get("reason") or (utc_date_text(e.get("time")) if e.get("time") else "")
            line = f"{utc_date_text(e.get('at', ''))} · {who} {what}"
            if detail:
                line += f"：{detail}"
            self.timeline.addItem(line)

    def _report(self, case: Case) -> None:
        signed = [r for r in case.reports if r.fields.get("signed")]
        parts = []
        for r in reversed(signed):
            parts.append(report_html(r.fields, self))
        draft = case.draft_report()
        if not signed:
            parts.append(
                "<p><i>"
                + html.escape(
                    self.tr("A report is being written.")
                    if draft is not None
                    else self.tr("No report yet.")
                )
                + "</i></p>"
            )
        self.report_view.setHtml("<hr>".join(parts))
        target = case.side.value == "target"
        open_for_report = case.status in ("accepted", "scheduled", "in_call")
        self.write_button.setVisible(target and not signed and open_for_report)
        self.amend_button.setVisible(target and bool(signed))
        self.pdf_button.setEnabled(bool(signed))
        self.dicom_pdf_button.setEnabled(bool(signed))

    # -- lifecycle actions ---------------------------------------------------------------
    def on_action(self, action: str) -> None:
        """A lifecycle button: ask what the step needs, then take it."""
        params: dict[str, Any] = {}
        if action in ("decline", "withdraw"):
            reason, ok = QInputDialog.getText(
                self,
                action_text(action),
                self.tr("Reason (the other side sees it):"),
            )
            if not ok or not reason.strip():
                return
            params["reason"] = reason.strip()
        elif action == "propose_time":
            dialog = TimeDialog(action_text(action), self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            params["time"] = dialog.iso()
        elif action == "assign":
            facility = str(self.case.fields.get("target_facility_id", "")) if self.case else ""
            people = self.directory.specialists(facility)
            names = [f"{p.get('display_name')} · {p.get('department', '')}" for p in people]
            if not names:
                return
            choice, ok = QInputDialog.getItem(
                self, action_text(action), self.tr("Specialist:"), names, 0, False
            )
            if not ok:
                return
            person = people[names.index(choice)]
            params = {"specialist_id": person["id"], "department": person.get("department", "")}
        elif action == "start_call":
            self.start_call()
            return
        elif action == "submit":
            window = self.window()
            if hasattr(window, "continue_request") and self.case is not None:
                window.continue_request(self.consultation_id)
                return
        self.act(action, **params)

    def act(self, action: str, **params: Any) -> None:
        """Take ``action`` on a worker; the screen reloads afterwards."""
        self.message.clear()

        def done(_doc: Any) -> None:
            self.reload()
            self.changed.emit()

        run_in_worker(
            functools.partial(take_action, **params),
            self.session.store,
            self.consultation_id,
            action,
            self.context.user,
            on_done=done,
            on_error=lambda exc: self.message.setText(problems_text(exc)),
        )

    def start_call(self) -> None:
        """Ring the other side (the call page shows the call) and record the step."""
        from app.ui.call.service import call_service

        call_service(self.context).call(self.consultation_id)
        self._watch_calls()
        if self.case is not None and "start_call" in self.case.actions:
            self.act("start_call")
        window = self.window()
        if hasattr(window, "show_page"):
            window.show_page("call")

    # -- attachments -------------------------------------------------------------------
    def open_attachment(self, row: int) -> None:
        if self.case is None or not 0 <= row < len(self.case.attachments):
            return
        a = self.case.attachments[row]
        if a.kind in ("dicom", "ecg") and any(
            b.get("media_type") == "application/dicom" for b in a.doc.fields.get("blobs", [])
        ):
            self.open_images()
            return
        if not a.complete:
            for sha in a.shas:
                self.session.engine.request_blob(sha)
            self.message.setText(self.tr("Still downloading; it opens once it is here."))
            self.progress_timer.start()
            return
        from app.ui.workflow.document_view import DocumentDialog
        from app.ui.workflow.pdf_pages import render_pages

        dialog = DocumentDialog(a.name, self.case.patient, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        blobs = self.session.blobs
        entries = a.doc.fields.get("blobs", [])

        def load() -> list[bytes]:
            images: list[bytes] = []
            for b in entries:
                data = blobs.read_bytes(b["sha256"])
                if data[:5] == b"%PDF-":
                    images += render_pages(data)
                else:
                    images.append(data)
            return images

        run_in_worker(
            load,
            on_done=dialog.show_images,
            on_error=lambda exc: dialog.show_problem(problems_text(exc)),
        )
        dialog.show()
        self.document_dialog = dialog

    def _patient_label(self) -> str:
        from app.ui.sync.identity import identity_text

        return identity_text(self.case.patient if self.case else None)

    def attach_received(self) -> None:
        """A study received from the clinic's modality (DICOM network inbox) → this case."""
        if self.case is None:
            return
        from app.ui.dicom_net.case_hooks import attach_received_study

        c = self.case.consultation
        attach_received_study(
            self,
            self.context,
            self.session,
            str(c.patient_id),
            self._patient_label(),
            str(c.id),
            on_done=self.reload,
        )

    def pull_priors(self) -> None:
        """Earlier studies of this patient retrieved from the PACS → this case."""
        if self.case is None:
            return
        from app.ui.dicom_net.case_hooks import pull_priors

        c = self.case.consultation
        pull_priors(
            self,
            self.context,
            self.session,
            str(c.patient_id),
            self._patient_label(),
            str((self.case.patient or {}).get("patient_number", "")),
            str(c.id),
            on_done=self.reload,
        )

    def dicom_items(self) -> list[tuple[str, Any]]:
        """``(name, opener)`` for every DICOM blob of the case (read from the encrypted store
        each time it is needed; nothing decrypted is written to disk)."""
        blobs = self.session.blobs
        items = []
        for a in self.case.attachments if self.case else []:
            for b in a.doc.fields.get("blobs", []):
                if b.get("media_type") == "application/dicom" or a.kind == "dicom":
                    sha = b["sha256"]
                    items.append((f"{sha[:16]}.dcm", lambda sha=sha: blobs.read_bytes(sha)))
        return items

    def open_images(self) -> None:
        """Show the case's DICOM in the viewer, downloading what is missing first."""
        if self.case is None:
            return
        missing = [
            sha
            for a in self.case.attachments
            if a.kind in ("dicom", "ecg")
            for sha in a.shas
            if not self.session.blobs.has(sha)
        ]
        if missing:
            for sha in missing:
                self.session.engine.request_blob(sha)
            self._pending_images = True
            self.message.setText(self.tr("Downloading the images; the viewer opens when done."))
            self.progress_timer.start()
            return
        window = main_window_of(self)
        if window is None:
            return
        window.viewer_page(show=False).show_case_images(self.case.patient, self.dicom_items())
        window.show_page("viewer")

    # -- report ------------------------------------------------------------------------
    def _close_editor(self) -> None:
        if self.editor is not None:
            self.editor.setParent(None)
            self.editor.deleteLater()
            self.editor = None
        self.report_view.show()

    def _open_editor(self, form: ReportForm) -> ReportEditor:
        self._close_editor()
        self.editor = ReportEditor(self.session, self.context.user, form)
        self.editor.signed.connect(self._report_signed)
        self.editor.cancelled.connect(self._close_editor)
        self.editor.saved.connect(lambda _id: self.reload())
        self.report_view.hide()
        self.report_layout.insertWidget(0, self.editor, 1)
        self.tabs.setCurrentIndex(3)
        return self.editor

    def write_report(self) -> ReportEditor | None:
        """Open the editor on the draft report (or a new one)."""
        if self.case is None:
            return None
        draft = self.case.draft_report()
        c = self.case.consultation
        form = (
            ReportForm.from_doc(draft)
            if draft is not None
            else ReportForm(str(c.id), str(c.patient_id))
        )
        if draft is None:
            form.values["diagnosis_name"] = c.fields.get("diagnosis_name", "")
            form.values["diagnosis_code"] = c.fields.get("diagnosis_code", "")
        return self._open_editor(form)

    def amend_report(self, reason: str = "") -> ReportEditor | None:
        """A new version of the signed report, saying why."""
        if self.case is None:
            return None
        signed = [r for r in self.case.reports if r.fields.get("signed")]
        if not signed:
            return None
        draft = self.case.draft_report()
        if draft is not None and draft.fields.get("amends"):
            return self._open_editor(ReportForm.from_doc(draft))
        return self._open_editor(ReportForm.amendment_of(signed[-1], reason))

    def _report_signed(self, _report_id: str) -> None:
        self._close_editor()
        if self.case is not None and "report" in self.case.actions:
            self.act("report")
        else:
            self.reload()
            self.changed.emit()

    def export_pdf(self, path: str = "", on_done: Any = None) -> None:
        """Write the signed report as a PDF (a worker renders it)."""
        if self.case is None or self.case.current_report() is None:
            return
        if not path:
            path, _ = QFileDialog.getSaveFileName(
                self, self.tr("Export report"), "report.pdf", self.tr("PDF documents (*.pdf)")
            )
        if not path:
            return
        from app.ui.workflow.export import export_report_pdf

        export_report_pdf(self, self.case, self.directory, path, on_done)

    def export_dicom_pdf(self, path: str = "", on_done: Any = None) -> None:
        """Write the signed report as a DICOM Encapsulated PDF for a PACS."""
        if self.case is None or self.case.current_report() is None:
            return
        if not path:
            path, _ = QFileDialog.getSaveFileName(
                self, self.tr("Export for PACS"), "report.dcm", self.tr("DICOM files (*.dcm)")
            )
        if not path:
            return
        from app.ui.workflow.export import export_report_dicom

        export_report_dicom(self, self.case, self.directory, path, on_done)


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(1, size // 1024)} KB"


def report_html(f: dict[str, Any], w: QWidget) -> str:
    """A signed report version as HTML (labels translated)."""

    version = int(f.get("version", 1) or 1)
    head = (
        QCoreApplication.translate("CaseView", "Report")
        if version == 1
        else QCoreApplication.translate("CaseView", "Amendment {n}").format(n=version - 1)
    )
    out = [f"<h3>{html.escape(head)}</h3>"]
    if f.get("amendment_reason"):
        out.append(
            f"<p><b>{html.escape(field_label('amendment_reason'))}</b>："
            f"{html.escape(f['amendment_reason'])}</p>"
        )
    for key in ("findings",):
        if f.get(key):
            out.append(
                f"<p><b>{html.escape(field_label(key))}</b><br>"
                + html.escape(str(f[key])).replace("\n", "<br>")
                + "</p>"
            )
    if f.get("diagnosis_name") or f.get("diagnosis_code"):
        out.append(
            f"<p><b>{html.escape(field_label('diagnosis_name'))}</b><br>"
            f"{html.escape(str(f.get('diagnosis_code', '')))} "
            f"{html.escape(str(f.get('diagnosis_name', '')))}</p>"
        )
    for key in ("opinion", "follow_up"):
        if f.get(key):
            out.append(
                f"<p><b>{html.escape(field_label(key))}</b><br>"
                + html.escape(str(f[key])).replace("\n", "<br>")
                + "</p>"
            )
    referral = f.get("referral") or {}
    kind = referral.get("kind", "none")
    ref = referral_text(kind)
    if kind == "refer_up":
        ref += f"：{referral.get('facility_name', '')} {referral.get('department', '')}"
    elif kind == "local" and referral.get("plan"):
        ref += f"：{referral['plan']}"
    out.append(f"<p><b>{html.escape(field_label('referral'))}</b><br>{html.escape(ref)}</p>")
    signer = f.get("signer") or {}
    out.append(
        "<p><i>"
        + html.escape(
            QCoreApplication.translate(
                "CaseView", "Signed by {name} {title}, {facility}, on {when}"
            ).format(
                name=signer.get("name", ""),
                title=signer.get("title", ""),
                facility=signer.get("facility_name", ""),
                when=utc_date_text(f.get("signed_at", "")),
            )
        )
        + "</i></p>"
    )
    return "".join(out)
