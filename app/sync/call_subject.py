"""Who and what a call is about, from the locally synced records.

The call window and the incoming-call dialog show the patient's name, sex and age and the
consultation's purpose — never an id fragment. Field names are read here and only here:
the consultation record's fields are being moved to WS/T 500 names (会诊目的 ``purpose``
beside 会诊原因 ``reason``), so ``consultation_purpose`` takes whichever the record has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.sync.records import patient_identity


@dataclass(frozen=True)
class CallSubject:
    """The patient and purpose of the consultation a call belongs to."""

    consultation_id: str
    patient_name: str  # "" when the patient record is not on this computer
    patient_number: str
    sex: str  # "F", "M" or "U"
    age: str  # whole years, "" if unknown
    purpose: str


def consultation_purpose(fields: dict[str, Any]) -> str:
    """The consultation's purpose (会诊目的), else its reason (会诊原因)."""
    for key in ("purpose", "consultation_purpose", "reason", "consultation_reason"):
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def call_subject(store: Any, consultation_id: str) -> CallSubject | None:
    """Read the consultation and its patient from ``store`` (a ``RecordStore``); None if the
    consultation is not synced here. Touches the database: call it off the GUI thread."""
    consultation = store.get(consultation_id)
    if consultation is None:
        return None
    patient = store.get(consultation.patient_id) if consultation.patient_id else None
    ident = patient_identity(patient.fields) if patient is not None else {}
    return CallSubject(
        consultation_id=consultation_id,
        patient_name=ident.get("name", ""),
        patient_number=ident.get("patient_number", ""),
        sex=ident.get("sex", "U"),
        age=ident.get("age", ""),
        purpose=consultation_purpose(consultation.fields),
    )
