"""What each document type's ``fields`` hold: the one schema shared by client and hub.

The wire envelope (id, type, flat ``fields``) is :mod:`app.protocol.sync`; this module gives
the clinical meaning of the fields — patients, consultations, notes, vitals, attachments (with
their blob manifests), reports and annotation sets. The client checks every local write with
it and the hub checks every pushed revision with it, so both sides name fields the same way.
Unknown extra fields are kept (a newer client or the hub may add some).

Field names follow the data elements of WS/T 500 share document C0045 会诊记录 where one
exists (see :data:`WST500` and docs/consultation.md). Problems come out as
:class:`app.protocol.problems.FieldProblem` (field + code + params), never as English.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.protocol import resident_id
from app.protocol.consultation import ConsultationStatus, ConsultationType
from app.protocol.problems import (
    FieldProblem,
    Problem,
    describe_in_english,
    problem,
    problems_from_validation,
)
from app.protocol.sync import AttachmentBlob, DocType

__all__ = [
    "RecordInvalid",
    "FieldProblem",
    "validate_fields",
    "record_problems",
    "report_content_hash",
    "consent_problems",
    "normalized",
    "FIELD_MODELS",
    "WST500",
]

WST500: dict[str, tuple[str, str]] = {
    "consultation_type": ("会诊类型", "DE06.00.319.00"),
    "purpose": ("会诊目的", "DE06.00.214.00"),
    "reason": ("会诊原因", "DE06.00.039.00"),
    "case_summary": ("病历摘要", "DE06.00.182.00"),
    "exam_results": ("辅助检查结果", "DE04.30.009.00"),
    "diagnosis_name": ("诊断名称", "DE05.01.025.00"),
    "diagnosis_code": ("诊断代码 (ICD-10)", "DE05.01.024.00"),
    "opinion": ("会诊意见", "DE06.00.018.00"),
}
"""Our field → (WS/T 500 data element name, identifier), for hospitals mapping our records."""


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


ICD10_PATTERN = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-Z]{1,4})?$")


def _date(value: str) -> str:
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise problem("date_format", "must be a date written YYYY-MM-DD") from None
    return value


def _datetime(value: str) -> str:
    if value:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise problem("datetime_format", "not an ISO 8601 date-time") from None
    return value


def _icd10(value: str) -> str:
    if value and not ICD10_PATTERN.match(value.strip().upper()):
        raise problem("icd10_format", "not an ICD-10 code")
    return value.strip().upper()


class _Fields(BaseModel):
    model_config = ConfigDict(extra="allow")


class PatientFields(_Fields):
    """A patient as registered at the clinic (患者基本信息)."""

    name: str = Field(min_length=1, max_length=200)
    patient_number: str = Field(default="", max_length=64, description="clinic's patient ID")
    sex: str = Field(default="U", pattern=r"^[MFOU]$")
    birth_date: str = Field(default="", description="YYYY-MM-DD or empty")
    phone: str = Field(default="", max_length=64)
    id_card: str = Field(
        default="", max_length=32, description="居民身份证号, 18 characters, check digit checked"
    )
    address: str = Field(default="", max_length=500)
    allergies: str = Field(default="", max_length=2000)
    chronic_conditions: str = Field(default="", max_length=2000)
    name_initials: str = Field(default="", max_length=64, description="pinyin initials, search")

    @field_validator("birth_date")
    @classmethod
    def _birth(cls, v: str) -> str:
        return _date(v)

    @model_validator(mode="after")
    def _resident_id(self) -> PatientFields:
        if not self.id_card or "*" in self.id_card:  # masked numbers (demo/exports) are kept
            return self
        try:
            rid = resident_id.parse(self.id_card)
        except ValueError as exc:
            p: Problem = exc.args[0]
            raise problem(p.code, p.code, **p.params) from None
        self.id_card = rid.number
        if self.birth_date and self.birth_date != rid.birth_date:
            raise problem("id_card_birth_mismatch", "birth date differs", from_id=rid.birth_date)
        if self.sex in ("M", "F") and self.sex != rid.sex:
            raise problem("id_card_sex_mismatch", "sex differs", from_id=rid.sex)
        return self


class VitalsFields(_Fields):
    """One set of vital signs; each is optional, ranges reject typing slips."""

    measured_at: str = Field(default="", description="ISO date or date-time")
    bp_systolic: int | None = Field(default=None, ge=40, le=300, description="mmHg")
    bp_diastolic: int | None = Field(default=None, ge=20, le=200, description="mmHg")
    heart_rate: int | None = Field(default=None, ge=20, le=300, description="beats/min")
    spo2: int | None = Field(default=None, ge=40, le=100, description="%")
    glucose: float | None = Field(default=None, ge=0.5, le=60, description="mmol/L")
    temperature: float | None = Field(default=None, ge=30, le=45, description="°C")
    weight: float | None = Field(default=None, ge=1, le=400, description="kg")
    source: str = Field(default="", max_length=64, description="visit | request | meter_csv")

    @field_validator("measured_at")
    @classmethod
    def _when(cls, v: str) -> str:
        return _datetime(v)


class ConsentFields(BaseModel):
    """远程医疗服务知情同意书: who consented, when, and the scan of the signed form."""

    model_config = ConfigDict(extra="allow")
    given_by: str = Field(pattern=r"^(patient|guardian|relative)$")
    signer_name: str = Field(min_length=1, max_length=200)
    relation: str = Field(default="", max_length=100, description="for guardian/relative")
    signed_at: str = Field(min_length=1, description="ISO date-time")
    scan: AttachmentBlob = Field(description="photo or scan of the signed form (a blob)")

    @field_validator("signed_at")
    @classmethod
    def _when(cls, v: str) -> str:
        return _datetime(v)


class ConsultationFields(_Fields):
    """A consultation request (远程会诊申请表) and its lifecycle (see consultation.py)."""

    status: ConsultationStatus = ConsultationStatus.draft
    consultation_type: ConsultationType = ConsultationType.video
    target_facility_id: str = Field(default="", max_length=64)
    department: str = Field(default="", max_length=100)
    specialist_id: str = Field(default="", max_length=64)
    invited_title: str = Field(default="", max_length=100, description="title of doctor invited")
    urgency: str = Field(default="routine", pattern=r"^(routine|urgent|emergency)$")
    requested_time: str = Field(default="", description="time wanted, ISO date-time")
    purpose: str = Field(default="", max_length=4000)
    reason: str = Field(default="", max_length=4000)
    chief_complaint: str = Field(default="", max_length=2000)
    present_illness: str = Field(default="", max_length=20000)
    past_history: str = Field(default="", max_length=20000)
    medication: str = Field(default="", max_length=10000)
    allergies: str = Field(default="", max_length=2000)
    case_summary: str = Field(default="", max_length=20000)
    vitals: VitalsFields | None = None
    diagnosis_name: str = Field(default="", max_length=500)
    diagnosis_code: str = Field(default="", max_length=16)
    exam_results: str = Field(default="", max_length=20000)
    consent: dict[str, Any] | None = Field(
        default=None,
        description="ConsentFields; a draft may hold it partly filled, submitting needs it whole",
    )
    # lifecycle (written through app.protocol.consultation.apply_action)
    proposed_time: str = Field(default="")
    proposed_by: str = Field(default="", pattern=r"^(|requester|target)$")
    scheduled_at: str = Field(default="", description="agreed call time, ISO date-time")
    decline_reason: str = Field(default="", max_length=2000)
    withdraw_reason: str = Field(default="", max_length=2000)
    accepted_by: str = Field(default="", max_length=64)
    assigned_by: str = Field(default="", max_length=64)
    history: list[dict[str, Any]] = Field(default_factory=list, max_length=500)

    @field_validator("diagnosis_code")
    @classmethod
    def _code(cls, v: str) -> str:
        return _icd10(v)

    @field_validator("requested_time", "proposed_time", "scheduled_at")
    @classmethod
    def _times(cls, v: str) -> str:
        return _datetime(v)

    @model_validator(mode="after")
    def _consent_before_submit(self) -> ConsultationFields:
        if self.status == ConsultationStatus.submitted:
            missing = consent_problems(self.consent)
            if missing:
                first = missing[0]
                raise problem(first.code, "informed consent incomplete", field=first.field)
        return self


class NoteFields(_Fields):
    """A clinical note (history, examination, question for the specialist)."""

    text: str = Field(min_length=1, max_length=20000)
    category: str = Field(default="general", max_length=64)


class AttachmentFields(_Fields):
    """One attached file (or DICOM study) with its name and kind, and its blobs."""

    kind: str = Field(default="file", pattern=r"^(dicom|photo|ecg|pdf|consent|report|file)$")
    name: str = Field(default="", max_length=500, description="file or study name shown")
    title: str = Field(default="", max_length=500)
    blobs: list[AttachmentBlob] = Field(default_factory=list)
    # DICOM: study → series → instances (each instance names its blob by sha256)
    study_uid: str = Field(default="")
    series: list[dict[str, Any]] = Field(default_factory=list)


class Referral(BaseModel):
    """Referral recommendation of a report."""

    model_config = ConfigDict(extra="allow")
    kind: str = Field(default="none", pattern=r"^(none|refer_up|local)$")
    facility_id: str = Field(default="", max_length=64)
    facility_name: str = Field(default="", max_length=200)
    department: str = Field(default="", max_length=100)
    plan: str = Field(default="", max_length=5000, description="local management plan")


class Signer(BaseModel):
    """Who signed a report (shown on it and in the PDF)."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    title: str = Field(default="", max_length=100, description="职称, e.g. 主任医师")
    facility_id: str = Field(default="", max_length=64)
    facility_name: str = Field(default="", max_length=200)
    department: str = Field(default="", max_length=100)


class ReportFields(_Fields):
    """The specialist's report (会诊意见书). Signed → immutable; corrections are amendments."""

    findings: str = Field(default="", max_length=50000)
    diagnosis_name: str = Field(default="", max_length=500)
    diagnosis_code: str = Field(default="", max_length=16)
    opinion: str = Field(default="", max_length=50000, description="会诊意见 and advice")
    follow_up: str = Field(default="", max_length=5000)
    referral: Referral = Field(default_factory=Referral)
    signer: Signer | None = None
    signed: bool = False
    signed_at: str = Field(default="", description="ISO date-time of signing")
    content_hash: str = Field(default="", pattern=r"^(|[0-9a-f]{64})$")
    version: int = Field(default=1, ge=1, le=1000)
    amends: str = Field(default="", max_length=36, description="id of the report corrected")
    amendment_reason: str = Field(default="", max_length=5000)
    # older clients wrote free text only
    text: str = Field(default="", max_length=50000)
    conclusion: str = Field(default="", max_length=5000)

    @field_validator("diagnosis_code")
    @classmethod
    def _code(cls, v: str) -> str:
        return _icd10(v)

    @field_validator("signed_at")
    @classmethod
    def _when(cls, v: str) -> str:
        return _datetime(v)

    @model_validator(mode="after")
    def _signed_is_complete(self) -> ReportFields:
        if self.amends and not self.amendment_reason.strip():
            raise problem("amendment_reason_required", "an amendment must say why")
        if self.signed:
            if not (self.opinion.strip() or self.text.strip()):
                raise problem("required", "a signed report needs an opinion", field="opinion")
            if self.signer is None or not self.signed_at or not self.content_hash:
                raise problem("required", "a signed report names signer, time and hash")
        return self


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


def _fix_custom_fields(problems: list[FieldProblem]) -> list[FieldProblem]:
    """Model-level custom problems carry their field in params (``field=``) or imply it."""
    implied = {
        "id_card_length": "id_card",
        "id_card_format": "id_card",
        "id_card_checksum": "id_card",
        "id_card_birth_date": "id_card",
        "id_card_birth_mismatch": "birth_date",
        "id_card_sex_mismatch": "sex",
        "consent_required": "consent",
        "amendment_reason_required": "amendment_reason",
    }
    out = []
    for p in problems:
        if "field" in p.params:
            p = Problem(
                str(p.params["field"]), p.code, {k: v for k, v in p.params.items() if k != "field"}
            )
        elif not p.field and p.code in implied:
            p = Problem(implied[p.code], p.code, dict(p.params))
        out.append(p)
    return out


def record_problems(doc_type: DocType | str, fields: dict[str, Any]) -> list[FieldProblem]:
    """Everything wrong with ``fields`` for ``doc_type`` (empty list: valid)."""
    try:
        FIELD_MODELS[DocType(doc_type)].model_validate(fields)
    except ValidationError as exc:
        return _fix_custom_fields(problems_from_validation(exc))
    return []


def validate_fields(doc_type: DocType | str, fields: dict[str, Any]) -> dict[str, Any]:
    """Check ``fields`` for ``doc_type`` and return them normalised as plain JSON values
    (raises :class:`RecordInvalid` with ``.problems``)."""
    model = FIELD_MODELS[DocType(doc_type)]
    try:
        return model.model_validate(fields).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        problems = _fix_custom_fields(problems_from_validation(exc))
        kind = DocType(doc_type).value
        raise RecordInvalid(
            f"{kind} record is not valid — {describe_in_english(problems)}", problems, kind
        ) from None


def normalized(doc_type: DocType | str, fields: dict[str, Any] | None) -> dict[str, Any]:
    """``fields`` with defaults filled in (as the client stores them); unchanged if invalid.
    Compare two revisions normalised, so a missing field equals its default."""
    try:
        return validate_fields(doc_type, fields or {})
    except RecordInvalid:
        return dict(fields or {})


def consent_problems(consent: Any) -> list[FieldProblem]:
    """What is missing from a consultation's ``consent`` (empty: complete)."""
    if not consent:
        return [Problem("consent", "consent_required")]
    try:
        ConsentFields.model_validate(consent)
    except ValidationError as exc:
        return [
            Problem(f"consent.{p.field}" if p.field else "consent", p.code, dict(p.params))
            for p in problems_from_validation(exc)
        ]
    return []


HASHED_OUT = ("content_hash",)


def report_content_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over a report's canonical JSON (every field but the hash itself): what a
    signature covers — content, signer and signing time."""
    content = {k: v for k, v in fields.items() if k not in HASHED_OUT}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sign_report(fields: dict[str, Any], signer: dict[str, Any], signed_at: str) -> dict[str, Any]:
    """The report's fields, signed: normalised, ``signed``, ``signer``, ``signed_at`` and the
    ``content_hash`` over all of it (the hub recomputes and refuses a mismatch)."""
    draft = {**fields, "signed": True, "signer": signer, "signed_at": signed_at, "content_hash": ""}
    draft = normalized(DocType.report, {**draft, "content_hash": "0" * 64})
    draft["content_hash"] = report_content_hash(draft)
    return validate_fields(DocType.report, draft)


def amendment(signed: dict[str, Any], signed_id: str, reason: str) -> dict[str, Any]:
    """A new unsigned report that corrects the signed one (``signed_id``): its content copied,
    ``amends``, ``amendment_reason`` and the next ``version`` set."""
    keep = {
        k: v
        for k, v in signed.items()
        if k not in ("signed", "signer", "signed_at", "content_hash", "amends", "amendment_reason")
    }
    return {
        **keep,
        "version": int(signed.get("version") or 1) + 1,
        "amends": signed_id,
        "amendment_reason": reason,
    }
