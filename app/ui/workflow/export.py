"""Exporting a signed report: PDF (Qt's PDF writer, CJK font embedded) and a DICOM
Encapsulated PDF instance for a PACS. The writers are the workflow core's; this runs them on a
worker and tells the user where the file went."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication

from app.ui.bridge import run_in_worker
from app.ui.workflow.wording import problems_text


def report_inputs(case: Any, directory: Any) -> dict[str, Any]:
    """What a report document shows, gathered from the case."""
    c = case.consultation
    report = case.current_report()
    return {
        "report": dict(report.fields),
        "report_id": str(report.id),
        "versions": [dict(r.fields) for r in case.reports if r.fields.get("signed")],
        "consultation": dict(c.fields),
        "consultation_id": str(c.id),
        "patient": dict(case.patient or {}),
        "requesting_facility": directory.facility_name(str(c.facility_id or "")),
        "consulting_facility": directory.facility_name(str(c.fields.get("target_facility_id", ""))),
        # What co-viewing saved into the consultation (app/dicom_viewer/coview_save names).
        "image_objects": [
            str(b.get("name", ""))
            for a in case.attachments
            for b in a.doc.fields.get("blobs") or []
            if str(b.get("name", "")).startswith("coview-")
        ],
        "study_uids": [
            a.doc.fields.get("study_uid")
            for a in case.attachments
            if a.kind == "dicom" and a.doc.fields.get("study_uid")
        ],
    }


def _language() -> str:
    """The UI's language (install_translators sets the default locale)."""
    from PySide6.QtCore import QLocale

    return "zh_CN" if QLocale().name().lower().startswith("zh") else "en"


def pdf_bytes(inputs: dict[str, Any], language: str) -> bytes:
    """The report as PDF (Qt's PDF writer; QtGui only, fine on a worker)."""
    from app.report.pdf import report_pdf

    return report_pdf(
        inputs["report"],
        inputs["consultation"],
        inputs["patient"],
        inputs["requesting_facility"],
        inputs["consulting_facility"],
        language,
        inputs.get("image_objects") or None,
    )


def write_pdf(inputs: dict[str, Any], language: str, path: str) -> str:
    Path(path).write_bytes(pdf_bytes(inputs, language))
    return path


def write_dicom(inputs: dict[str, Any], language: str, path: str) -> str:
    """The same PDF as a DICOM Encapsulated PDF instance tied to the patient and the study."""
    from datetime import datetime

    from app.consult.report_dicom import encapsulated_pdf

    report = inputs["report"]
    signer = report.get("signer") or {}
    try:
        when = datetime.fromisoformat(str(report.get("signed_at", "")))
    except ValueError:
        when = None
    data = encapsulated_pdf(
        pdf_bytes(inputs, language),
        inputs["patient"],
        study_uid=(inputs["study_uids"] or [""])[0],
        title=QCoreApplication.translate("ReportExport", "Remote consultation report"),
        institution=inputs["consulting_facility"],
        signer=str(signer.get("name", "")),
        when=when,
    )
    Path(path).write_bytes(data)
    return path


def _run(view: Any, fn: Any, inputs: dict[str, Any], path: str, on_done: Any) -> None:
    language = _language()

    def done(result: str) -> None:
        view.message.setStyleSheet("color: #1b5e20; padding: 0 8px;")
        view.message.setText(
            QCoreApplication.translate("ReportExport", "Saved to {path}").format(path=result)
        )
        if on_done is not None:
            on_done(result)

    def failed(exc: BaseException) -> None:
        view.message.setStyleSheet("color: #b00020; padding: 0 8px;")
        view.message.setText(
            QCoreApplication.translate("ReportExport", "Export failed: {0}").format(
                problems_text(exc)
            )
        )

    run_in_worker(fn, inputs, language, path, on_done=done, on_error=failed)


def export_report_pdf(view: Any, case: Any, directory: Any, path: str, on_done: Any) -> None:
    _run(view, write_pdf, report_inputs(case, directory), path, on_done)


def export_report_dicom(view: Any, case: Any, directory: Any, path: str, on_done: Any) -> None:
    _run(view, write_dicom, report_inputs(case, directory), path, on_done)
