"""Domain records on the client: lifecycle checks and how a patient is shown on screen.

The field schemas themselves are :mod:`app.protocol.records` (shared with the hub) and are
re-exported here for the client's convenience.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from app.protocol.problems import Problem
from app.protocol.records import (  # noqa: F401 - re-exported: the schema lives in the protocol
    FIELD_MODELS,
    AnnotationSetFields,
    AttachmentFields,
    ConsultationFields,
    NoteFields,
    PatientFields,
    RecordInvalid,
    ReportFields,
    VitalsFields,
    validate_fields,
)
from app.protocol.sync import can_transition


def check_transition(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Refuse a consultation status change the lifecycle does not allow."""
    before, after = old.get("status", "draft"), new.get("status", "draft")
    if not can_transition(before, after):
        raise RecordInvalid(
            f"a consultation cannot go from '{before}' to '{after}'",
            [Problem("status", "transition", {"before": before, "after": after})],
            "consultation",
        )


def age_years(birth_date: str, today: date | None = None) -> int | None:
    """Whole years since ``birth_date`` (None when unknown or malformed)."""
    if not birth_date:
        return None
    try:
        born = date.fromisoformat(birth_date)
    except ValueError:
        return None
    today = today or date.today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def patient_identity(fields: dict[str, Any]) -> dict[str, str]:
    """Name, ID, sex and age of a patient as plain strings (empty when unknown)."""
    age = age_years(fields.get("birth_date", ""))
    return {
        "name": str(fields.get("name", "")),
        "patient_number": str(fields.get("patient_number", "")),
        "sex": str(fields.get("sex", "U")),
        "age": "" if age is None else str(age),
    }
