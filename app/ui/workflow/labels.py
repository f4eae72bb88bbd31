"""Translated names of every record field and coded value the workflow shows.

Consultation fields carry the WS/T 500 (会诊记录, C0045) data element names in Chinese.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication

from app.ui.sync.field_labels import field_label as _base_label


def _t(text: str) -> str:
    return QCoreApplication.translate("WorkflowField", text)


def field_label(key: str) -> str:
    """The translated label of a record field."""
    labels = {
        "id_card": _t("Resident ID number"),
        "allergies": _t("Allergies"),
        "chronic_conditions": _t("Chronic conditions"),
        "consultation_type": _t("Consultation type"),
        "target_facility_id": _t("Consulting hospital"),
        "department": _t("Department"),
        "specialist_id": _t("Specialist"),
        "invited_title": _t("Title of the doctor invited"),
        "urgency": _t("Urgency"),
        "requested_time": _t("Time wanted"),
        "purpose": _t("Purpose of consultation"),
        "reason": _t("Reason for consultation"),
        "chief_complaint": _t("Chief complaint"),
        "present_illness": _t("Present illness"),
        "past_history": _t("Past history"),
        "medication": _t("Current medication"),
        "case_summary": _t("Case summary"),
        "vitals": _t("Current vital signs"),
        "diagnosis_name": _t("Diagnosis"),
        "diagnosis_code": _t("ICD-10 code"),
        "exam_results": _t("Auxiliary examination results"),
        "consent": _t("Informed consent"),
        "given_by": _t("Consent given by"),
        "signer_name": _t("Name of the person who signed"),
        "relation": _t("Relation to the patient"),
        "signed_at": _t("Signed at"),
        "scan": _t("Scan of the signed form"),
        "proposed_time": _t("Proposed call time"),
        "scheduled_at": _t("Call time"),
        "decline_reason": _t("Reason for declining"),
        "withdraw_reason": _t("Reason for withdrawing"),
        "findings": _t("Findings"),
        "opinion": _t("Consultation opinion and advice"),
        "follow_up": _t("Follow-up"),
        "referral": _t("Referral"),
        "amendment_reason": _t("Reason for the amendment"),
        "weight": _t("Weight (kg)"),
        "name": _t("Name"),
        "birth_date": _t("Date of birth"),
        "sex": _t("Sex"),
        "phone": _t("Phone"),
        "address": _t("Address"),
        "patient_number": _t("Clinic patient number"),
    }
    return labels.get(key) or _base_label(key)


def type_text(value: str) -> str:
    """会诊类型."""
    return {
        "video": _t("Video consultation"),
        "imaging": _t("Imaging diagnosis (store-and-forward)"),
        "ecg": _t("ECG diagnosis (store-and-forward)"),
    }.get(value, value)


def urgency_text(value: str) -> str:
    return {
        "routine": _t("Routine"),
        "urgent": _t("Urgent"),
        "emergency": _t("Emergency"),
    }.get(value, value)


def status_text(value: str) -> str:
    return {
        "draft": _t("Draft"),
        "submitted": _t("Submitted"),
        "accepted": _t("Accepted"),
        "declined": _t("Declined"),
        "scheduled": _t("Scheduled"),
        "in_call": _t("In call"),
        "reported": _t("Reported"),
        "withdrawn": _t("Withdrawn"),
        "closed": _t("Closed"),
    }.get(value, value)


def action_text(action: str) -> str:
    """Button text of a lifecycle action."""
    return {
        "submit": _t("Submit request"),
        "withdraw": _t("Withdraw…"),
        "revise": _t("Revise and resubmit"),
        "accept": _t("Accept"),
        "decline": _t("Decline…"),
        "propose_time": _t("Propose a call time…"),
        "confirm_time": _t("Confirm the proposed time"),
        "start_call": _t("Start video call"),
        "end_call": _t("End call"),
        "report": _t("Write report…"),
        "close": _t("Close case"),
        "assign": _t("Assign a specialist…"),
    }.get(action, action)


def history_text(action: str) -> str:
    """Timeline wording of an action that happened."""
    return {
        "create": _t("request written"),
        "submit": _t("submitted the request"),
        "withdraw": _t("withdrew the request"),
        "revise": _t("reopened the request for revision"),
        "accept": _t("accepted"),
        "decline": _t("declined"),
        "propose_time": _t("proposed a call time"),
        "confirm_time": _t("confirmed the call time"),
        "start_call": _t("started the video call"),
        "end_call": _t("ended the video call"),
        "report": _t("filed the report"),
        "close": _t("closed the case"),
        "assign": _t("assigned a specialist"),
    }.get(action, action)


def consent_by_text(value: str) -> str:
    return {
        "patient": _t("Patient"),
        "guardian": _t("Guardian"),
        "relative": _t("Close relative"),
    }.get(value, value)


def referral_text(kind: str) -> str:
    return {
        "none": _t("No referral"),
        "refer_up": _t("Refer up"),
        "local": _t("Manage locally with a plan"),
    }.get(kind, kind)


def attachment_kind_text(kind: str) -> str:
    return {
        "dicom": _t("DICOM study"),
        "photo": _t("Photo"),
        "ecg": _t("ECG"),
        "pdf": _t("PDF document"),
        "consent": _t("Signed consent form"),
        "report": _t("Report"),
        "file": _t("File"),
    }.get(kind, kind)


def value_text(key: str, value: Any) -> str:
    """A field's value for display (codes translated)."""
    if key == "consultation_type":
        return type_text(str(value))
    if key == "urgency":
        return urgency_text(str(value))
    if key == "status":
        return status_text(str(value))
    if key == "given_by":
        return consent_by_text(str(value))
    if key == "sex":
        from app.ui.sync.identity import sex_text

        return sex_text(str(value))
    return str(value)
