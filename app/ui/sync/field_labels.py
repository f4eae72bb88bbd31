"""How record fields and their values are named on screen (translated), for the conflict
dialog and anything else that lists raw record fields."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication

from app.ui.sync.identity import sex_text


def status_text(status: str) -> str:
    """Translated consultation status."""
    return {
        "draft": QCoreApplication.translate("ConsultationStatus", "Draft"),
        "submitted": QCoreApplication.translate("ConsultationStatus", "Submitted"),
        "accepted": QCoreApplication.translate("ConsultationStatus", "Accepted"),
        "declined": QCoreApplication.translate("ConsultationStatus", "Declined"),
        "scheduled": QCoreApplication.translate("ConsultationStatus", "Scheduled"),
        "in_call": QCoreApplication.translate("ConsultationStatus", "In call"),
        "reported": QCoreApplication.translate("ConsultationStatus", "Reported"),
        "withdrawn": QCoreApplication.translate("ConsultationStatus", "Withdrawn"),
        "closed": QCoreApplication.translate("ConsultationStatus", "Closed"),
    }.get(status, status)


def field_label(key: str) -> str:
    """The translated label of a record field; unknown keys are shown as they are."""
    labels = {
        "name": QCoreApplication.translate("RecordField", "Name"),
        "username": QCoreApplication.translate("RecordField", "Username"),
        "password": QCoreApplication.translate("RecordField", "Password"),
        "patient_number": QCoreApplication.translate("RecordField", "Patient ID"),
        "sex": QCoreApplication.translate("RecordField", "Sex"),
        "birth_date": QCoreApplication.translate("RecordField", "Date of birth"),
        "phone": QCoreApplication.translate("RecordField", "Phone"),
        "id_card": QCoreApplication.translate("RecordField", "ID card number"),
        "address": QCoreApplication.translate("RecordField", "Address"),
        "status": QCoreApplication.translate("RecordField", "Status"),
        "reason": QCoreApplication.translate("RecordField", "Reason for consultation"),
        "urgency": QCoreApplication.translate("RecordField", "Urgency"),
        "department": QCoreApplication.translate("RecordField", "Department"),
        "target_facility_id": QCoreApplication.translate("RecordField", "Consulting hospital"),
        "specialist_id": QCoreApplication.translate("RecordField", "Specialist"),
        "scheduled_at": QCoreApplication.translate("RecordField", "Scheduled for"),
        "decline_reason": QCoreApplication.translate("RecordField", "Reason for declining"),
        "text": QCoreApplication.translate("RecordField", "Text"),
        "category": QCoreApplication.translate("RecordField", "Category"),
        "measured_at": QCoreApplication.translate("RecordField", "Measured at"),
        "bp_systolic": QCoreApplication.translate("RecordField", "Systolic BP (mmHg)"),
        "bp_diastolic": QCoreApplication.translate("RecordField", "Diastolic BP (mmHg)"),
        "heart_rate": QCoreApplication.translate("RecordField", "Heart rate (/min)"),
        "spo2": QCoreApplication.translate("RecordField", "SpO2 (%)"),
        "glucose": QCoreApplication.translate("RecordField", "Blood glucose (mmol/L)"),
        "temperature": QCoreApplication.translate("RecordField", "Temperature (°C)"),
        "kind": QCoreApplication.translate("RecordField", "Kind"),
        "title": QCoreApplication.translate("RecordField", "Title"),
        "blobs": QCoreApplication.translate("RecordField", "Files"),
        "study_uid": QCoreApplication.translate("RecordField", "Study UID"),
        "series": QCoreApplication.translate("RecordField", "Series"),
        "conclusion": QCoreApplication.translate("RecordField", "Conclusion"),
        "signed": QCoreApplication.translate("RecordField", "Signed"),
        "annotations": QCoreApplication.translate("RecordField", "Annotations"),
    }
    from app.ui.workflow.labels import workflow_field_labels  # consultation workflow fields

    return workflow_field_labels().get(key) or labels.get(key, key)


def field_value(key: str, value: Any, names: dict[str, str] | None = None) -> str | None:
    """A translated rendering of coded values (status, sex, urgency, people); None when the
    value has no special rendering."""
    if not isinstance(value, str) or not value:
        return None
    if key == "status":
        return status_text(value)
    if key == "sex":
        return sex_text(value)
    if key == "urgency":
        return {
            "routine": QCoreApplication.translate("RecordField", "Routine"),
            "urgent": QCoreApplication.translate("RecordField", "Urgent"),
            "emergency": QCoreApplication.translate("RecordField", "Emergency"),
        }.get(value)
    if key == "specialist_id" and names:
        return names.get(value)
    return None
