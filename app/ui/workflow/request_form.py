"""The consultation request form (远程会诊申请表) for the clinic: type, hospital → department →
specialist from the hub's directory, urgency, WS/T 500 sections, current vital signs, the
preliminary diagnosis with an ICD-10 code, attachments and the informed consent. The draft
saves itself while you type; submitting is refused, in words, until the request is complete.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDateTime, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDateTimeEdit,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.ui.bridge import NewestOnly, run_in_worker
from app.ui.workflow.banner import PatientBanner
from app.ui.workflow.directory import Directory
from app.ui.workflow.labels import attachment_kind_text, field_label, type_text, urgency_text
from app.ui.workflow.request_model import TEXT_FIELDS, RequestForm, attach, consent_scan
from app.ui.workflow.wording import problem_sentence, problems_text

VITAL_KEYS = (
    ("bp_systolic", "mmHg"),
    ("bp_diastolic", "mmHg"),
    ("heart_rate", "/min"),
    ("spo2", "%"),
    ("glucose", "mmol/L"),
    ("temperature", "°C"),
    ("weight", "kg"),
)


def install_icd10(parent: QWidget, name: QLineEdit, code: QLineEdit, edited: Any) -> None:
    """ICD-10 completion on the diagnosis field (code, Chinese and English names; pinyin
    initials through the code list's search), from the shipped curated list; free text
    stays allowed. Picking one fills both fields and calls ``edited(field, value)``."""
    from PySide6.QtCore import QLocale

    from app.consult.icd10 import CODES

    chinese = QLocale().name().lower().startswith("zh")
    items = [f"{c.code} {c.name_zh if chinese else c.name_en}" for c in CODES]
    completer = QCompleter(items, parent)
    completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    completer.setFilterMode(Qt.MatchFlag.MatchContains)
    name.setCompleter(completer)

    def picked(text: str) -> None:
        c, _, n = text.partition(" ")
        code.setText(c)
        name.setText(n)
        edited("diagnosis_code", c)
        edited("diagnosis_name", n)

    completer.activated.connect(picked)


class TextBox(QPlainTextEdit):
    """A few lines of free text."""

    def __init__(self, lines: int = 3, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * (lines + 1) + 8)


class RequestFormWidget(QWidget):
    """Write (or continue) a request; ``submitted(consultation_id)`` when it went out,
    ``closed()`` when the doctor leaves the form."""

    submitted = Signal(str)
    closed = Signal()
    saved = Signal(str)

    def __init__(
        self,
        session: Any,
        user: Any,
        form: RequestForm,
        patient: dict[str, Any] | None,
        directory: Directory,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self._attachments_load = NewestOnly()
        self.user = user
        self.form = form
        self.directory = directory
        self._saving = False
        self._clock = time.monotonic
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.banner = PatientBanner()
        self.banner.set_patient(patient)
        outer.addWidget(self.banner)
        title = QLabel(self.tr("Consultation request"))
        title.setStyleSheet("font-size: 15px; font-weight: bold; padding: 4px 10px;")
        outer.addWidget(title)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        scroll.setWidget(body)
        col = QVBoxLayout(body)
        outer.addWidget(scroll, 1)

        # -- routing ------------------------------------------------------------------
        route = QGroupBox(self.tr("Type and consulting side"))
        rf = QFormLayout(route)
        self.kind = QComboBox()
        self.kind.setObjectName("consultation_type")
        for code in ("video", "imaging", "ecg"):
            self.kind.addItem(type_text(code), code)
        self.hospital = QComboBox()
        self.hospital.setObjectName("target_facility_id")
        self.department = QComboBox()
        self.department.setObjectName("department")
        self.specialist = QComboBox()
        self.specialist.setObjectName("specialist_id")
        self.invited_title = QComboBox()
        self.invited_title.setObjectName("invited_title")
        self.invited_title.setEditable(True)
        for text in ("", self.tr("Chief physician"), self.tr("Associate chief physician")):
            self.invited_title.addItem(text)
        self.urgency = QComboBox()
        self.urgency.setObjectName("urgency")
        for code in ("routine", "urgent", "emergency"):
            self.urgency.addItem(urgency_text(code), code)
        self.requested = QDateTimeEdit()
        self.requested.setObjectName("requested_time")
        self.requested.setCalendarPopup(True)
        self.requested.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.requested.setDateTime(QDateTime.currentDateTime().addSecs(3600))
        rf.addRow(field_label("consultation_type"), self.kind)
        rf.addRow(field_label("target_facility_id"), self.hospital)
        rf.addRow(field_label("department"), self.department)
        rf.addRow(field_label("specialist_id"), self.specialist)
        rf.addRow(field_label("invited_title"), self.invited_title)
        rf.addRow(field_label("urgency"), self.urgency)
        rf.addRow(field_label("requested_time"), self.requested)
        col.addWidget(route)

        # -- the request's sections (WS/T 500 names) ---------------------------------
        request_box = QGroupBox(self.tr("Request"))
        tf = QFormLayout(request_box)
        self.texts: dict[str, TextBox] = {}
        for key in TEXT_FIELDS:
            box = TextBox(4 if key in ("present_illness", "case_summary", "exam_results") else 2)
            box.setObjectName(key)
            box.textChanged.connect(lambda key=key, box=box: self._edit(key, box.toPlainText()))
            self.texts[key] = box
            tf.addRow(field_label(key), box)
        col.addWidget(request_box)

        vit = QGroupBox(field_label("vitals"))
        vg = QGridLayout(vit)
        self.vitals: dict[str, QLineEdit] = {}
        for n, (key, unit) in enumerate(VITAL_KEYS):
            edit = QLineEdit()
            edit.setObjectName(key)
            edit.setMaximumWidth(90)
            edit.textEdited.connect(lambda t, key=key: self._vital(key, t))
            self.vitals[key] = edit
            vg.addWidget(QLabel(field_label(key).split(" (")[0]), n // 4, (n % 4) * 3)
            vg.addWidget(edit, n // 4, (n % 4) * 3 + 1)
            vg.addWidget(QLabel(unit), n // 4, (n % 4) * 3 + 2)
        col.addWidget(vit)

        diag = QGroupBox(self.tr("Preliminary diagnosis"))
        df = QFormLayout(diag)
        self.diagnosis = QLineEdit()
        self.diagnosis.setObjectName("diagnosis_name")
        self.diagnosis.setPlaceholderText(self.tr("Type a diagnosis or an ICD-10 code"))
        self.code = QLineEdit()
        self.code.setObjectName("diagnosis_code")
        self.code.setMaximumWidth(120)
        self._install_icd10(self.diagnosis, self.code)
        self.diagnosis.textEdited.connect(lambda t: self._edit("diagnosis_name", t))
        self.code.textEdited.connect(lambda t: self._edit("diagnosis_code", t.upper()))
        df.addRow(field_label("diagnosis_name"), self.diagnosis)
        df.addRow(field_label("diagnosis_code"), self.code)
        col.addWidget(diag)

        # -- attachments -----------------------------------------------------------------
        att = QGroupBox(self.tr("Attachments"))
        al = QVBoxLayout(att)
        self.attachments = QListWidget()
        self.attachments.setObjectName("attachments")
        self.attachments.setMaximumHeight(120)
        al.addWidget(self.attachments)
        ab = QHBoxLayout()
        self.attach_buttons: dict[str, QPushButton] = {}
        for key, text_ in (
            ("viewer", self.tr("DICOM from the viewer")),
            ("folder", self.tr("DICOM folder…")),
            ("photo", self.tr("Photo…")),
            ("webcam", self.tr("Camera snapshot")),
            ("ecg", self.tr("ECG…")),
            ("pdf", self.tr("PDF…")),
        ):
            b = QPushButton(text_)
            b.setObjectName(f"attach_{key}")
            b.clicked.connect(lambda _=False, key=key: self._attach_clicked(key))
            self.attach_buttons[key] = b
            ab.addWidget(b)
        ab.addStretch(1)
        al.addLayout(ab)
        self.attach_status = QLabel()
        self.attach_status.setWordWrap(True)
        al.addWidget(self.attach_status)
        col.addWidget(att)

        # -- informed consent ------------------------------------------------------------
        con = QGroupBox(self.tr("Informed consent (远程医疗服务知情同意书)"))
        cf = QFormLayout(con)
        intro = QLabel(
            self.tr(
                "Explain the remote consultation to the patient. The patient (or a guardian or "
                "close relative) signs the consent form; attach a photo or scan of it."
            )
        )
        intro.setWordWrap(True)
        cf.addRow(intro)
        self.given_by = QComboBox()
        self.given_by.setObjectName("given_by")
        for code, text_ in (
            ("", self.tr("— choose —")),
            ("patient", self.tr("Patient")),
            ("guardian", self.tr("Guardian")),
            ("relative", self.tr("Close relative")),
        ):
            self.given_by.addItem(text_, code)
        self.signer = QLineEdit()
        self.signer.setObjectName("signer_name")
        self.relation = QLineEdit()
        self.relation.setObjectName("relation")
        self.relation.setPlaceholderText(self.tr("e.g. daughter"))
        self.signed_at = QDateTimeEdit(QDateTime.currentDateTime())
        self.signed_at.setObjectName("signed_at")
        self.signed_at.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.signed_at.setCalendarPopup(True)
        scan_row = QHBoxLayout()
        self.scan_button = QPushButton(self.tr("Attach signed form…"))
        self.scan_button.setObjectName("consent_scan")
        self.scan_button.clicked.connect(lambda: self.attach_consent())
        self.scan_label = QLabel(self.tr("No scan attached"))
        scan_row.addWidget(self.scan_button)
        scan_row.addWidget(self.scan_label, 1)
        cf.addRow(field_label("given_by"), self.given_by)
        cf.addRow(field_label("signer_name"), self.signer)
        cf.addRow(field_label("relation"), self.relation)
        cf.addRow(field_label("signed_at"), self.signed_at)
        cf.addRow(field_label("scan"), scan_row)
        col.addWidget(con)
        col.addStretch(1)

        # -- bottom bar ----------------------------------------------------------------
        self.problems = QLabel()
        self.problems.setObjectName("problems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #b00020; padding: 0 10px;")
        outer.addWidget(self.problems)
        bar = QHBoxLayout()
        bar.setContentsMargins(10, 4, 10, 8)
        self.save_state = QLabel()
        self.save_state.setObjectName("saveState")
        self.close_button = QPushButton(self.tr("Close (draft is kept)"))
        self.close_button.clicked.connect(self._close)
        self.submit_button = QPushButton(self.tr("Submit request"))
        self.submit_button.setObjectName("submit")
        self.submit_button.setDefault(True)
        self.submit_button.clicked.connect(self.submit)
        bar.addWidget(self.save_state, 1)
        bar.addWidget(self.close_button)
        bar.addWidget(self.submit_button)
        outer.addLayout(bar)

        self._fill_hospitals()
        self._load()
        for combo, key in (
            (self.kind, "consultation_type"),
            (self.urgency, "urgency"),
        ):
            combo.currentIndexChanged.connect(
                lambda _i, combo=combo, key=key: self._edit(key, combo.currentData())
            )
        self.hospital.currentIndexChanged.connect(self._hospital_changed)
        self.department.currentIndexChanged.connect(self._department_changed)
        self.specialist.currentIndexChanged.connect(
            lambda _i: self._edit("specialist_id", self.specialist.currentData() or "")
        )
        self.invited_title.currentTextChanged.connect(lambda t: self._edit("invited_title", t))
        self.requested.dateTimeChanged.connect(
            lambda dt: self._edit("requested_time", dt.toString(Qt.DateFormat.ISODate))
        )
        self.given_by.currentIndexChanged.connect(
            lambda _i: self._consent(given_by=self.given_by.currentData() or None)
        )
        self.signer.textEdited.connect(lambda t: self._consent(signer_name=t.strip()))
        self.relation.textEdited.connect(lambda t: self._consent(relation=t.strip()))
        self.signed_at.dateTimeChanged.connect(
            lambda dt: self._consent(signed_at=dt.toString(Qt.DateFormat.ISODate))
        )
        self.timer = QTimer(self)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self._autosave_tick)
        self.timer.start()
        self.refresh_attachments()

    # -- filling -----------------------------------------------------------------------
    def _install_icd10(self, name: QLineEdit, code: QLineEdit) -> None:
        install_icd10(self, name, code, self._edit)

    def _fill_hospitals(self) -> None:
        own = str(getattr(self.user, "facility_id", ""))
        self.hospital.blockSignals(True)
        self.hospital.clear()
        self.hospital.addItem(self.tr("— choose a hospital —"), "")
        for f in self.directory.consulting_facilities(own):
            self.hospital.addItem(str(f.get("name", "")), f.get("id"))
        self.hospital.blockSignals(False)
        if self.hospital.count() == 1:
            self.hospital.setItemText(
                0, self.tr("— no hospitals known yet: connect once to load the directory —")
            )

    def _fill_departments(self, facility_id: str) -> None:
        self.department.blockSignals(True)
        self.department.clear()
        self.department.addItem(self.tr("— choose a department —"), "")
        for d in self.directory.departments(facility_id):
            self.department.addItem(d, d)
        self.department.blockSignals(False)

    def _fill_specialists(self, facility_id: str, department: str) -> None:
        self.specialist.blockSignals(True)
        self.specialist.clear()
        self.specialist.addItem(self.tr("Any specialist of the department"), "")
        for p in self.directory.specialists(facility_id, department):
            label = str(p.get("display_name", ""))
            if p.get("title"):
                label += f"（{p['title']}）"
            self.specialist.addItem(label, p.get("id"))
        self.specialist.blockSignals(False)

    def _load(self) -> None:
        v = self.form.values
        self.kind.setCurrentIndex(max(0, self.kind.findData(v.get("consultation_type", "video"))))
        self.urgency.setCurrentIndex(max(0, self.urgency.findData(v.get("urgency", "routine"))))
        facility = v.get("target_facility_id", "")
        self.hospital.setCurrentIndex(max(0, self.hospital.findData(facility)))
        self._fill_departments(facility)
        self.department.setCurrentIndex(max(0, self.department.findData(v.get("department", ""))))
        self._fill_specialists(facility, v.get("department", ""))
        self.specialist.setCurrentIndex(
            max(0, self.specialist.findData(v.get("specialist_id", "")))
        )
        self.invited_title.setCurrentText(v.get("invited_title", ""))
        if v.get("requested_time"):
            self.requested.setDateTime(
                QDateTime.fromString(v["requested_time"], Qt.DateFormat.ISODate)
            )
        for key, box in self.texts.items():
            box.blockSignals(True)
            box.setPlainText(str(v.get(key, "")))
            box.blockSignals(False)
        for key, edit in self.vitals.items():
            edit.setText(str((v.get("vitals") or {}).get(key, "")))
        self.diagnosis.setText(str(v.get("diagnosis_name", "")))
        self.code.setText(str(v.get("diagnosis_code", "")))
        consent = v.get("consent") or {}
        self.given_by.setCurrentIndex(max(0, self.given_by.findData(consent.get("given_by", ""))))
        self.signer.setText(str(consent.get("signer_name", "")))
        self.relation.setText(str(consent.get("relation", "")))
        if consent.get("signed_at"):
            self.signed_at.setDateTime(
                QDateTime.fromString(consent["signed_at"], Qt.DateFormat.ISODate)
            )
        if consent.get("scan"):
            self.scan_label.setText(str(consent["scan"].get("name", "")))

    # -- edits -------------------------------------------------------------------------
    def _edit(self, key: str, value: Any) -> None:
        self.form.set(key, value, self._clock())
        self.save_state.setText(self.tr("Editing…"))

    def _vital(self, key: str, text: str) -> None:
        text = text.strip().replace(",", ".")
        value: Any = text
        if text:
            try:
                number = float(text)
                value = int(number) if number.is_integer() and key != "glucose" else number
            except ValueError:
                value = text  # the schema names the problem
        self.form.set_vital(key, value, self._clock())

    def _consent(self, **parts: Any) -> None:
        if "given_by" in parts or "signer_name" in parts:
            current = self.form.values.get("consent") or {}
            if not current.get("signed_at"):
                parts.setdefault(
                    "signed_at", self.signed_at.dateTime().toString(Qt.DateFormat.ISODate)
                )
        self.form.set_consent(self._clock(), **parts)

    def _hospital_changed(self, _index: int) -> None:
        facility = self.hospital.currentData() or ""
        self._edit("target_facility_id", facility)
        self._fill_departments(facility)
        self._fill_specialists(facility, "")

    def _department_changed(self, _index: int) -> None:
        facility = self.hospital.currentData() or ""
        department = self.department.currentData() or ""
        self._edit("department", department)
        self._fill_specialists(facility, department)

    # -- saving ------------------------------------------------------------------------
    def _autosave_tick(self) -> None:
        if not self._saving and self.form.autosave_due(self._clock()):
            self.save_now()

    def save_now(self, then: Any = None) -> None:
        """Save the draft on a worker (``then(doc)`` on the GUI thread afterwards)."""
        self._saving = True

        def done(doc: Any) -> None:
            self._saving = False
            self.save_state.setText(
                self.tr("Draft saved at {time}").format(
                    time=QDateTime.currentDateTime().toString("HH:mm:ss")
                )
            )
            self.problems.setText("")
            self.saved.emit(str(doc.id))
            if then is not None:
                then(doc)

        def failed(exc: BaseException) -> None:
            self._saving = False
            self.form.dirty = True  # try again after the next edit
            self.save_state.setText(self.tr("Draft not saved"))
            self.problems.setText(problems_text(exc))

        run_in_worker(self.form.save, self.session.store, on_done=done, on_error=failed)

    def _ensure_saved(self, then: Any) -> None:
        if self.form.consultation_id is None or self.form.dirty:
            self.save_now(then)
        else:
            then(None)

    # -- attachments ---------------------------------------------------------------------
    def refresh_attachments(self) -> None:
        cid = self.form.consultation_id
        if cid is None:
            return
        store = self.session.store

        def load() -> list[Any]:
            from app.protocol.sync import DocType

            return store.list(DocType.attachment, consultation_id=cid)

        run_in_worker(load, on_done=self._attachments_load.deliver(self._show_attachments))

    def _show_attachments(self, docs: list[Any]) -> None:
        self.attachments.clear()
        for d in reversed(docs):
            kind = attachment_kind_text(str(d.fields.get("kind", "file")))
            name = d.fields.get("name") or d.fields.get("title") or ""
            self.attachments.addItem(f"{kind} · {name}")

    def _attach_clicked(self, key: str) -> None:
        if key == "viewer":
            self.attach_from_viewer()
            return
        if key == "webcam":
            self.attach_snapshot()
            return
        if key == "folder":
            folder = QFileDialog.getExistingDirectory(self, self.tr("DICOM folder"))
            if folder:
                self.attach_paths([folder], "dicom")
            return
        filters = {
            "photo": self.tr("Pictures (*.jpg *.jpeg *.png)"),
            "ecg": self.tr("ECG files (*.dcm *.xml *.pdf *.jpg *.png)"),
            "pdf": self.tr("PDF documents (*.pdf)"),
        }
        paths, _ = QFileDialog.getOpenFileNames(self, self.tr("Attach files"), "", filters[key])
        if paths:
            self.attach_paths(paths, key)

    def attach_paths(self, paths: Sequence[str | Path], kind: str | None = None) -> None:
        """Attach files (each its own attachment) after the draft exists."""

        def go(_doc: Any) -> None:
            self.attach_status.setText(self.tr("Adding {n} file(s)…").format(n=len(paths)))
            run_in_worker(
                attach,
                self.session.store,
                self.session.blobs,
                [str(p) for p in paths],
                self.form.patient_id,
                self.form.consultation_id,
                kind,
                on_done=lambda docs: self._attached(len(docs)),
                on_error=lambda exc: self.attach_status.setText(problems_text(exc)),
            )

        self._ensure_saved(go)

    def _attached(self, count: int) -> None:
        self.attach_status.setText(self.tr("{n} attachment(s) added.").format(n=count))
        self.refresh_attachments()

    def attach_from_viewer(self) -> None:
        """The studies open in the viewer (its index), attached as they are on disk."""
        window = self.window()
        page = window.page("viewer") if hasattr(window, "page") else None
        viewer = getattr(page, "viewer", None)
        library = getattr(viewer, "library", None)
        paths = []
        for _patient, _study, series in library.all_series() if library is not None else []:
            paths += [str(i.path) for i in series.instances if i.opener is None]
        if not paths:
            self.attach_status.setText(
                self.tr("The viewer has no study open: open one there first, or pick a folder.")
            )
            return
        self.attach_paths(paths, "dicom")

    def attach_snapshot(self) -> None:
        from app.ui.workflow.webcam import snapshot_jpeg

        self.attach_status.setText(self.tr("Taking a picture…"))
        settings = getattr(getattr(self.window(), "context", None), "settings", None)

        def take() -> str:
            import tempfile

            data = snapshot_jpeg(settings)
            # The snapshot is the clinic's own new photo: it goes into the encrypted store
            # through a short-lived file that is removed at once.
            with tempfile.NamedTemporaryFile(suffix=".jpg", delete=False) as f:
                f.write(data)
            return f.name

        def taken(path: str) -> None:
            def cleanup(_r: Any = None) -> None:
                Path(path).unlink(missing_ok=True)

            self.attach_paths([path], "photo")
            QTimer.singleShot(30_000, cleanup)

        run_in_worker(
            take,
            on_done=taken,
            on_error=lambda exc: self.attach_status.setText(
                self.tr("No camera picture: {0}").format(exc)
            ),
        )

    def attach_consent(self, path: str | None = None) -> None:
        """Attach the photo/scan of the signed consent form."""
        if not path:
            path, _ = QFileDialog.getOpenFileName(
                self,
                self.tr("Signed consent form"),
                "",
                self.tr("Pictures or PDF (*.jpg *.jpeg *.png *.pdf)"),
            )
        if not path:
            return

        def go(_doc: Any) -> None:
            run_in_worker(
                consent_scan,
                self.session.store,
                self.session.blobs,
                path,
                self.form.patient_id,
                self.form.consultation_id,
                on_done=self._consent_attached,
                on_error=lambda exc: self.problems.setText(problems_text(exc)),
            )

        self._ensure_saved(go)

    def _consent_attached(self, blob: dict) -> None:
        self.scan_label.setText(str(blob.get("name", "")))
        self._consent(scan=blob)
        self.refresh_attachments()

    # -- submit -------------------------------------------------------------------------
    def show_problems(self) -> list[str]:
        sentences = [problem_sentence(p) for p in self.form.submit_problems()]
        self.problems.setText("\n".join(sentences))
        return sentences

    def submit(self) -> None:
        """Refuse with sentences while something is missing; else save and submit."""
        if self.show_problems():
            return
        from app.consult.workflow import take_action

        def go(_doc: Any) -> None:
            run_in_worker(
                take_action,
                self.session.store,
                self.form.consultation_id,
                "submit",
                self.user,
                on_done=lambda doc: self._submitted(str(doc.id)),
                on_error=lambda exc: self.problems.setText(problems_text(exc)),
            )

        self.save_now(go)

    def _submitted(self, consultation_id: str) -> None:
        self.timer.stop()
        self.submitted.emit(consultation_id)

    def _close(self) -> None:
        if self.form.dirty:
            self.save_now(lambda _d: self.closed.emit())
        else:
            self.closed.emit()
