"""The report editor (specialist): findings, diagnosis with ICD-10 code, 会诊意见 (opinion and
advice), follow-up, referral, and the signer; sign (immutable afterwards) or amend."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.bridge import run_in_worker
from app.ui.workflow.labels import field_label, referral_text
from app.ui.workflow.report_model import ReportForm
from app.ui.workflow.request_form import TextBox, install_icd10
from app.ui.workflow.wording import problem_sentence, problems_text


class ReportEditor(QWidget):
    """Edit one unsigned report version; ``signed(report_id)`` after signing."""

    signed = Signal(str)
    saved = Signal(str)
    cancelled = Signal()

    def __init__(self, session: Any, user: Any, form: ReportForm, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.user = user
        self.form = form
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        heading = QLabel(
            self.tr("Report")
            if not form.amends
            else self.tr("Amendment (version {n})").format(n=form.version)
        )
        heading.setStyleSheet("font-weight: bold;")
        layout.addWidget(heading)
        grid = QFormLayout()
        self.reason = QLineEdit(form.amendment_reason)
        self.reason.setObjectName("amendment_reason")
        self.reason.setPlaceholderText(self.tr("What is corrected, and why"))
        self.reason.textEdited.connect(self._reason)
        if form.amends:
            grid.addRow(field_label("amendment_reason"), self.reason)
        self.boxes: dict[str, Any] = {}
        for key, lines in (("findings", 4),):
            self.boxes[key] = self._box(key, lines, grid)
        self.diagnosis = QLineEdit(str(form.values.get("diagnosis_name", "")))
        self.diagnosis.setObjectName("diagnosis_name")
        self.code = QLineEdit(str(form.values.get("diagnosis_code", "")))
        self.code.setObjectName("diagnosis_code")
        self.code.setMaximumWidth(120)
        install_icd10(self, self.diagnosis, self.code, self.form.set)
        self.diagnosis.textEdited.connect(lambda t: self.form.set("diagnosis_name", t))
        self.code.textEdited.connect(lambda t: self.form.set("diagnosis_code", t.strip().upper()))
        diag = QHBoxLayout()
        diag.addWidget(self.diagnosis, 1)
        diag.addWidget(QLabel(field_label("diagnosis_code")))
        diag.addWidget(self.code)
        grid.addRow(field_label("diagnosis_name"), diag)
        self.boxes["opinion"] = self._box("opinion", 4, grid)
        self.boxes["follow_up"] = self._box("follow_up", 2, grid)
        referral = form.values.get("referral") or {"kind": "none"}
        self.referral = QComboBox()
        self.referral.setObjectName("referral")
        for kind in ("none", "refer_up", "local"):
            self.referral.addItem(referral_text(kind), kind)
        self.referral.setCurrentIndex(max(0, self.referral.findData(referral.get("kind"))))
        self.refer_hospital = QLineEdit(str(referral.get("facility_name", "")))
        self.refer_hospital.setPlaceholderText(self.tr("Hospital"))
        self.refer_department = QLineEdit(str(referral.get("department", "")))
        self.refer_department.setPlaceholderText(self.tr("Department"))
        self.plan = QLineEdit(str(referral.get("plan", "")))
        self.plan.setPlaceholderText(self.tr("Plan for managing the patient locally"))
        ref_row = QHBoxLayout()
        for w in (self.referral, self.refer_hospital, self.refer_department, self.plan):
            ref_row.addWidget(w)
        grid.addRow(field_label("referral"), ref_row)
        self.referral.currentIndexChanged.connect(self._referral)
        self.refer_hospital.textEdited.connect(lambda t: self.form.set_referral(facility_name=t))
        self.refer_department.textEdited.connect(lambda t: self.form.set_referral(department=t))
        self.plan.textEdited.connect(lambda t: self.form.set_referral(plan=t))
        title = getattr(user, "title", "") or ""
        signer = QLabel(
            self.tr("Signed by: {name} {title} · {facility}").format(
                name=getattr(user, "display_name", ""),
                title=title,
                facility=getattr(user, "facility_name", ""),
            )
        )
        signer.setObjectName("signer")
        grid.addRow(signer)
        layout.addLayout(grid)
        self.problems = QLabel()
        self.problems.setObjectName("problems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #b00020;")
        layout.addWidget(self.problems)
        bar = QHBoxLayout()
        self.save_button = QPushButton(self.tr("Save draft"))
        self.save_button.clicked.connect(self.save)
        self.sign_button = QPushButton(self.tr("Sign report"))
        self.sign_button.setObjectName("sign")
        self.sign_button.clicked.connect(self.sign)
        cancel = QPushButton(self.tr("Cancel"))
        cancel.clicked.connect(self.cancelled)
        bar.addStretch(1)
        bar.addWidget(cancel)
        bar.addWidget(self.save_button)
        bar.addWidget(self.sign_button)
        layout.addLayout(bar)
        self._referral()

    def _box(self, key: str, lines: int, grid: QFormLayout) -> TextBox:
        box = TextBox(lines)
        box.setObjectName(key)
        box.setPlainText(str(self.form.values.get(key, "")))
        box.textChanged.connect(lambda key=key, box=box: self.form.set(key, box.toPlainText()))
        grid.addRow(field_label(key), box)
        return box

    def _reason(self, text: str) -> None:
        self.form.amendment_reason = text

    def _referral(self, _i: int = 0) -> None:
        kind = self.referral.currentData()
        self.form.set_referral(kind=kind)
        self.refer_hospital.setVisible(kind == "refer_up")
        self.refer_department.setVisible(kind == "refer_up")
        self.plan.setVisible(kind == "local")

    def save(self) -> None:
        run_in_worker(
            self.form.save,
            self.session.store,
            on_done=lambda doc: self.saved.emit(str(doc.id)),
            on_error=lambda exc: self.problems.setText(problems_text(exc)),
        )

    def sign(self, confirm: bool = True) -> None:
        """Refuse with sentences while something is missing; else confirm and sign."""
        problems = self.form.problems()
        if problems:
            self.problems.setText("\n".join(problem_sentence(p) for p in problems))
            return
        if confirm:
            answer = QMessageBox.question(
                self,
                self.tr("Sign report"),
                self.tr(
                    "After signing, the report cannot be changed; corrections are made as "
                    "amendments. Sign now?"
                ),
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        run_in_worker(
            self.form.sign,
            self.session.store,
            self.user,
            on_done=lambda doc: self.signed.emit(str(doc.id)),
            on_error=lambda exc: self.problems.setText(problems_text(exc)),
        )
