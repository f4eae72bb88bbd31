"""What each document type's ``fields`` hold: the one schema shared by client and hub.

The wire envelope (id, type, flat ``fields``) is :mod:`app.protocol.sync`; this module gives
the clinical meaning of the fields — patients, consultations, notes, vitals, attachments (with
their blob manifests), reports and annotation sets. The client checks every local write with
it and the hub's demo seed is checked with it, so both sides name fields the same way.
Unknown extra fields are kept (a newer client or the hub may add some).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from app.protocol.problems import Problem, describe_in_english, problems_from_validation
from app.protocol.sync import AttachmentBlob, ConsultationStatus, DocType


class RecordInvalid(ValueError):
    """A local write with fields that make no sense.

    ``problems`` says what, machine-readably (the UI words them in the user's language);
    the message is English for logs.
    """

    def __init__(
        self, message: str, problems: list[Problem] | None = None, doc_type: str = ""
    ) -> None:
        super().__init__(message)
        self.problems: list[Problem] = list(problems or [])
        self.doc_type = doc_type


class _Fields(BaseModel):
    model_config = ConfigDict(extra="allow")


class PatientFields(_Fields):
    """A patient as registered at the clinic."""

    name: str = Field(min_length=1, max_length=200)
    patient_number: str = Field(default="", max_length=64, description="clinic's patient ID")
    sex: str = Field(default="U", pattern=r"^[MFOU]$")
    birth_date: str = Field(default="", description="YYYY-MM-DD or empty")
    phone: str = Field(default="", max_length=64)
    id_card: str = Field(default="", max_length=32)
    address: str = Field(default="", max_length=500)

    @field_validator("birth_date")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise PydanticCustomError(
                    "date_format", "must be a date written YYYY-MM-DD, e.g. 1965-03-15"
                ) from None
        return value


class ConsultationFields(_Fields):
    """A consultation request and its lifecycle."""

    status: ConsultationStatus = ConsultationStatus.draft
    reason: str = Field(default="", max_length=4000)
    urgency: str = Field(default="routine", pattern=r"^(routine|urgent|emergency)$")
    department: str = Field(default="", max_length=200)
    target_facility_id: str = Field(default="", max_length=64)
    specialist_id: str = Field(default="", max_length=64)
    scheduled_at: str = Field(default="", description="ISO date-time of the call, if scheduled")
    decline_reason: str = Field(default="", max_length=2000)


class NoteFields(_Fields):
    """A clinical note (history, examination, question for the specialist)."""

    text: str = Field(min_length=1, max_length=20000)
    category: str = Field(default="general", max_length=64)


class VitalsFields(_Fields):
    """One set of vital signs; each is optional, ranges reject typing slips."""

    measured_at: str = Field(default="")
    bp_systolic: int | None = Field(default=None, ge=40, le=300, description="mmHg")
    bp_diastolic: int | None = Field(default=None, ge=20, le=200, description="mmHg")
    heart_rate: int | None = Field(default=None, ge=20, le=300, description="beats/min")
    spo2: int | None = Field(default=None, ge=40, le=100, description="%")
    glucose: float | None = Field(default=None, ge=0.5, le=60, description="mmol/L")
    temperature: float | None = Field(default=None, ge=30, le=45, description="°C")


class AttachmentFields(_Fields):
    """An attachment: a DICOM study manifest, a photo, an ECG or a PDF, with its blobs."""

    kind: str = Field(pattern=r"^(dicom|photo|ecg|pdf|file)$")
    title: str = Field(default="", max_length=500)
    blobs: list[AttachmentBlob] = Field(default_factory=list)
    # DICOM: study → series → instances (each instance names its blob by sha256)
    study_uid: str = Field(default="")
    series: list[dict[str, Any]] = Field(default_factory=list)


class ReportFields(_Fields):
    """The specialist's report."""

    text: str = Field(min_length=1, max_length=50000)
    conclusion: str = Field(default="", max_length=5000)
    signed: bool = False


class AnnotationSetFields(_Fields):
    """Annotations drawn on a study (the viewer's model, serialised)."""

    study_uid: str = Field(default="")
    annotations: list[dict[str, Any]] = Field(default_factory=list)


FIELD_MODELS: dict[DocType, type[_Fields]] = {
    DocType.patient: PatientFields,
    DocType.consultation: ConsultationFields,
    DocType.note: NoteFields,
    DocType.vitals: VitalsFields,
    DocType.attachment: AttachmentFields,
    DocType.report: ReportFields,
    DocType.annotation_set: AnnotationSetFields,
}


def validate_fields(doc_type: DocType | str, fields: dict[str, Any]) -> dict[str, Any]:
    """Check ``fields`` for ``doc_type`` and return them normalised as plain JSON values."""
    model = FIELD_MODELS[DocType(doc_type)]
    try:
        return model.model_validate(fields).model_dump(mode="json")
    except ValidationError as exc:
        problems = problems_from_validation(exc)
        kind = DocType(doc_type).value
        raise RecordInvalid(
            f"{kind} record is not valid — {describe_in_english(problems)}", problems, kind
        ) from exc
