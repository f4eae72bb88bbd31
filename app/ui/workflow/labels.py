"""Translated names of every record field and coded value the workflow shows.

Consultation fields carry the WS/T 500 (会诊记录, C0045) data element names in Chinese.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication


def workflow_field_labels() -> dict[str, str]:
    """Labels of the consultation workflow's record fields (merged into
    :func:`app.ui.sync.field_labels.field_label`, the one table)."""
    return {
        "id_card": QCoreApplication.translate("WorkflowField", "Resident ID number"),
        "allergies": QCoreApplication.translate("WorkflowField", "Allergies"),
        "chronic_conditions": QCoreApplication.translate("WorkflowField", "Chronic conditions"),
        "consultation_type": QCoreApplication.translate("WorkflowField", "Consultation type"),
        "target_facility_id": QCoreApplication.translate("WorkflowField", "Consulting hospital"),
        "department": QCoreApplication.translate("WorkflowField", "Department"),
        "specialist_id": QCoreApplication.translate("WorkflowField", "Specialist"),
        "invited_title": QCoreApplication.translate("WorkflowField", "Title of the doctor invited"),
        "urgency": QCoreApplication.translate("WorkflowField", "Urgency"),
        "requested_time": QCoreApplication.translate("WorkflowField", "Time wanted"),
        "purpose": QCoreApplication.translate("WorkflowField", "Purpose of consultation"),
        "reason": QCoreApplication.translate("WorkflowField", "Reason for consultation"),
        "chief_complaint": QCoreApplication.translate("WorkflowField", "Chief complaint"),
        "present_illness": QCoreApplication.translate("WorkflowField", "Present illness"),
        "past_history": QCoreApplication.translate("WorkflowField", "Past history"),
        "medication": QCoreApplication.translate("WorkflowField", "Current medication"),
        "case_summary": QCoreApplication.translate("WorkflowField", "Case summary"),
        "vitals": QCoreApplication.translate("WorkflowField", "Current vital signs"),
        "diagnosis_name": QCoreApplication.translate("WorkflowField", "Diagnosis"),
        "diagnosis_code": QCoreApplication.translate("WorkflowField", "ICD-10 code"),
        "exam_results": QCoreApplication.translate(
            "WorkflowField", "Auxiliary examination results"
        ),
        "consent": QCoreApplication.translate("WorkflowField", "Informed consent"),
        "given_by": QCoreApplication.translate("WorkflowField", "Consent given by"),
        "signer_name": QCoreApplication.translate("WorkflowField", "Name of the person who signed"),
        "relation": QCoreApplication.translate("WorkflowField", "Relation to the patient"),
        "signed_at": QCoreApplication.translate("WorkflowField", "Signed at"),
        "scan": QCoreApplication.translate("WorkflowField", "Scan of the signed form"),
        "proposed_time": QCoreApplication.translate("WorkflowField", "Proposed call time"),
        "scheduled_at": QCoreApplication.translate("WorkflowField", "Call time"),
        "decline_reason": QCoreApplication.translate("WorkflowField", "Reason for declining"),
        "withdraw_reason": QCoreApplication.translate("WorkflowField", "Reason for withdrawing"),
        "findings": QCoreApplication.translate("WorkflowField", "Findings"),
        "opinion": QCoreApplication.translate("WorkflowField", "Consultation opinion and advice"),
        "follow_up": QCoreApplication.translate("WorkflowField", "Follow-up"),
        "referral": QCoreApplication.translate("WorkflowField", "Referral"),
        "amendment_reason": QCoreApplication.translate("WorkflowField", "Reason for the amendment"),
        "weight": QCoreApplication.translate("WorkflowField", "Weight (kg)"),
        "name_initials": QCoreApplication.translate("WorkflowField", "Pinyin initials"),
        "proposed_by": QCoreApplication.translate("WorkflowField", "Time proposed by"),
        "accepted_by": QCoreApplication.translate("WorkflowField", "Accepted by"),
        "assigned_by": QCoreApplication.translate("WorkflowField", "Assigned by"),
        "history": QCoreApplication.translate("WorkflowField", "Timeline"),
        "source": QCoreApplication.translate("WorkflowField", "Source of the measurement"),
        "signer": QCoreApplication.translate("WorkflowField", "Signed by"),
        "content_hash": QCoreApplication.translate("WorkflowField", "Signature checksum"),
        "version": QCoreApplication.translate("WorkflowField", "Version"),
        "amends": QCoreApplication.translate("WorkflowField", "Corrects report"),
        "patient_number": QCoreApplication.translate("WorkflowField", "Clinic patient number"),
    }


def type_text(value: str) -> str:
    """会诊类型."""
    return {
        "video": QCoreApplication.translate("WorkflowField", "Video consultation"),
        "imaging": QCoreApplication.translate(
            "WorkflowField", "Imaging diagnosis (store-and-forward)"
        ),
        "ecg": QCoreApplication.translate("WorkflowField", "ECG diagnosis (store-and-forward)"),
    }.get(value, value)


def urgency_text(value: str) -> str:
    from app.ui.sync.field_labels import field_value

    return field_value("urgency", value) or value


def status_text(value: str) -> str:
    from app.ui.sync.field_labels import status_text as text

    return text(value)


def action_text(action: str) -> str:
    """Button text of a lifecycle action."""
    return {
        "submit": QCoreApplication.translate("WorkflowField", "Submit request"),
        "withdraw": QCoreApplication.translate("WorkflowField", "Withdraw…"),
        "revise": QCoreApplication.translate("WorkflowField", "Revise and resubmit"),
        "accept": QCoreApplication.translate("WorkflowField", "Accept"),
        "decline": QCoreApplication.translate("WorkflowField", "Decline…"),
        "propose_time": QCoreApplication.translate("WorkflowField", "Propose a call time…"),
        "confirm_time": QCoreApplication.translate("WorkflowField", "Confirm the proposed time"),
        "start_call": QCoreApplication.translate("WorkflowField", "Start video call"),
        "end_call": QCoreApplication.translate("WorkflowField", "End call"),
        "report": QCoreApplication.translate("WorkflowField", "Write report…"),
        "close": QCoreApplication.translate("WorkflowField", "Close case"),
        "assign": QCoreApplication.translate("WorkflowField", "Assign a specialist…"),
    }.get(action, action)


def history_text(action: str) -> str:
    """Timeline wording of an action that happened."""
    return {
        "create": QCoreApplication.translate("WorkflowField", "request written"),
        "submit": QCoreApplication.translate("WorkflowField", "submitted the request"),
        "withdraw": QCoreApplication.translate("WorkflowField", "withdrew the request"),
        "revise": QCoreApplication.translate("WorkflowField", "reopened the request for revision"),
        "accept": QCoreApplication.translate("WorkflowField", "accepted"),
        "decline": QCoreApplication.translate("WorkflowField", "declined"),
        "propose_time": QCoreApplication.translate("WorkflowField", "proposed a call time"),
        "confirm_time": QCoreApplication.translate("WorkflowField", "confirmed the call time"),
        "start_call": QCoreApplication.translate("WorkflowField", "started the video call"),
        "end_call": QCoreApplication.translate("WorkflowField", "ended the video call"),
        "report": QCoreApplication.translate("WorkflowField", "filed the report"),
        "close": QCoreApplication.translate("WorkflowField", "closed the case"),
        "assign": QCoreApplication.translate("WorkflowField", "assigned a specialist"),
    }.get(action, action)


def consent_by_text(value: str) -> str:
    return {
        "patient": QCoreApplication.translate("WorkflowField", "Patient"),
        "guardian": QCoreApplication.translate("WorkflowField", "Guardian"),
        "relative": QCoreApplication.translate("WorkflowField", "Close relative"),
    }.get(value, value)


def referral_text(kind: str) -> str:
    return {
        "none": QCoreApplication.translate("WorkflowField", "No referral"),
        "refer_up": QCoreApplication.translate("WorkflowField", "Refer up"),
        "local": QCoreApplication.translate("WorkflowField", "Manage locally with a plan"),
    }.get(kind, kind)


def attachment_kind_text(kind: str) -> str:
    return {
        "dicom": QCoreApplication.translate("WorkflowField", "DICOM study"),
        "photo": QCoreApplication.translate("WorkflowField", "Photo"),
        "ecg": QCoreApplication.translate("WorkflowField", "ECG"),
        "pdf": QCoreApplication.translate("WorkflowField", "PDF document"),
        "consent": QCoreApplication.translate("WorkflowField", "Signed consent form"),
        "report": QCoreApplication.translate("WorkflowField", "Report"),
        "file": QCoreApplication.translate("WorkflowField", "File"),
    }.get(kind, kind)


def field_label(key: str) -> str:
    """The translated label of a record field (the one table)."""
    from app.ui.sync.field_labels import field_label as label

    return label(key)


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
