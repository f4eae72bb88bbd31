"""Who may write what (issue 12 item 3, issue 11 item 3): rules by record type and role.

Seeing a document is :mod:`hub.access`; writing it is decided here, before anything is
stored:

- the patient's own records — ``patient``, ``vitals``, ``consultation`` (the request) — belong
  to the facility that holds the patient; nobody else creates, edits or deletes them;
- every other record (``note``, ``attachment``, ``annotation_set``, ``report``) belongs to the
  facility that wrote it; the consulting side may add its own *inside a consultation it takes
  part in*, never at patient level; a report is written by the consultation's specialist;
- a consultation's fields change only through the lifecycle table of
  :mod:`app.protocol.consultation` for the writer's side (the clinic submits and withdraws,
  the consulting side accepts, declines, schedules and reports, a coordinator of the target
  facility assigns); the participants change only by that coordinator;
- a signed report never changes again (content hash, signer and time are checked when it is
  signed); a correction is a new report that ``amends`` it and says why.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.protocol.auth import Role, UserInfo
from app.protocol.consultation import Participants, Side, TransitionRefused, check_change, side_of
from app.protocol.problems import FieldProblem
from app.protocol.records import (
    consent_problems,
    normalized,
    record_problems,
    report_content_hash,
)
from app.protocol.sync import DocType, RejectReason
from hub import access
from hub import db as t

PATIENT_OWNED = frozenset({DocType.patient, DocType.vitals, DocType.consultation})
"""Records only the facility holding the patient writes."""

CONSULTATION_ONLY_FOR_OTHERS = frozenset(
    {DocType.note, DocType.attachment, DocType.annotation_set, DocType.report}
)
"""Records the consulting side may add (inside a consultation it takes part in)."""


class WriteRefused(Exception):
    """Raised with a reject reason, an English message and machine-readable problems."""

    def __init__(
        self, reason: RejectReason, message: str, problems: list[FieldProblem] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.problems = problems or []


def _patient_facility(conn: Connection, patient_id: str | None) -> str | None:
    if not patient_id:
        return None
    return conn.execute(
        sa.select(t.documents.c.facility_id).where(
            t.documents.c.id == patient_id, t.documents.c.type == DocType.patient.value
        )
    ).scalar()


def participants(conn: Connection, consultation_id: str) -> Participants | None:
    row = conn.execute(
        sa.select(t.consultations).where(t.consultations.c.id == consultation_id)
    ).first()
    if row is None:
        return None
    return Participants(
        row.requesting_facility_id, row.target_facility_id, row.department, row.specialist_id
    )


def check_fields(doc_type: DocType, fields: dict[str, Any], deleted: bool) -> None:
    """The shared schema (app.protocol.records) on what the revision would hold."""
    if deleted:
        return
    problems = record_problems(doc_type, fields)
    if problems:
        raise WriteRefused(
            RejectReason.invalid,
            f"{doc_type.value} fields are not valid: " + "; ".join(str(p) for p in problems),
            problems,
        )


def check_new(
    conn: Connection,
    user: UserInfo,
    doc_type: DocType,
    patient_id: str | None,
    consultation_id: str | None,
    fields: dict[str, Any],
) -> None:
    """May ``user`` create this document? (scoping already checked by hub.records)"""
    holder = (
        user.facility_id if doc_type == DocType.patient else _patient_facility(conn, patient_id)
    )
    if holder is None:
        return  # unknown patient: hub.records rejects it with its own reason
    if doc_type in PATIENT_OWNED and holder != user.facility_id:
        raise WriteRefused(
            RejectReason.forbidden,
            f"{doc_type.value} records belong to the facility that holds the patient",
        )
    if holder != user.facility_id and not consultation_id:
        raise WriteRefused(
            RejectReason.forbidden,
            "the consulting side adds records inside a consultation, not to the patient's chart",
        )
    if doc_type == DocType.consultation:
        _consultation(conn, user, None, fields, Side.requester, is_new=True)
    if doc_type == DocType.report:
        _report(conn, user, consultation_id, None, fields)


def check_update(
    conn: Connection,
    user: UserInfo,
    cur: Any,
    old_fields: dict[str, Any],
    new_fields: dict[str, Any],
    deleted: bool,
) -> None:
    """May ``user`` turn document ``cur`` (a documents row) into ``new_fields``/``deleted``?"""
    doc_type = DocType(cur.type)
    if doc_type == DocType.report and old_fields.get("signed"):
        raise WriteRefused(
            RejectReason.immutable,
            "this report is signed and cannot change; write an amendment that references it",
        )
    if doc_type != DocType.consultation:
        if cur.facility_id != user.facility_id:
            raise WriteRefused(
                RejectReason.forbidden,
                f"this {doc_type.value} belongs to another facility; write your own record",
            )
        if doc_type == DocType.report and not deleted:
            _report(conn, user, cur.consultation_id, old_fields, new_fields)
        return
    p = participants(conn, cur.id)
    side = side_of(user, p) if p is not None else Side.none
    if deleted:
        if side is not Side.requester or (old_fields.get("status") or "draft") != "draft":
            raise WriteRefused(
                RejectReason.forbidden, "only the clinic deletes a consultation, and only a draft"
            )
        return
    action = _consultation(conn, user, old_fields, new_fields, side)
    if action == "report" and not _signed_report_exists(conn, cur.id):
        raise WriteRefused(
            RejectReason.invalid_transition,
            "a consultation is reported once a signed report for it is on the hub",
        )


def _consultation(
    conn: Connection,
    user: UserInfo,
    old: dict[str, Any] | None,
    new: dict[str, Any],
    side: Side,
    is_new: bool = False,
) -> str | None:
    try:
        action = check_change(
            normalized(DocType.consultation, old) if old is not None else None,
            normalized(DocType.consultation, new),
            side,
            is_new=is_new,
        )
    except TransitionRefused as exc:
        reason = {
            "forbidden": RejectReason.forbidden,
            "invalid_transition": RejectReason.invalid_transition,
        }.get(exc.code, RejectReason.invalid)
        code = "consent_required" if exc.field.startswith("consent") else "invalid"
        problems = [FieldProblem(field=exc.field, code=code)] if exc.field else []
        raise WriteRefused(reason, exc.message, problems) from None
    if action == "submit":
        problems = consent_problems(new.get("consent"))
        scan = (new.get("consent") or {}).get("scan") or {}
        if not problems and not access.can_read_blob(conn, user, str(scan.get("sha256", ""))):
            problems = [FieldProblem(field="consent.scan", code="consent_required")]
        if problems:
            raise WriteRefused(
                RejectReason.invalid,
                "a request goes out only with the patient's signed informed consent "
                "(who, when, and the scan uploaded)",
                problems,
            )
    return action


def _signed_report_exists(conn: Connection, consultation_id: str) -> bool:
    rows = conn.execute(
        sa.select(t.documents.c.fields).where(
            t.documents.c.consultation_id == consultation_id,
            t.documents.c.type == DocType.report.value,
            t.documents.c.deleted == sa.false(),
        )
    ).scalars()
    return any((f or {}).get("signed") for f in rows)


def _report(
    conn: Connection,
    user: UserInfo,
    consultation_id: str | None,
    old: dict[str, Any] | None,
    new: dict[str, Any],
) -> None:
    if user.role != Role.specialist:
        raise WriteRefused(RejectReason.forbidden, "only specialists write reports")
    if not consultation_id:
        raise WriteRefused(RejectReason.invalid, "a report belongs to a consultation")
    p = participants(conn, consultation_id)
    if p is None or side_of(user, p) is not Side.target:
        raise WriteRefused(
            RejectReason.forbidden, "only the consultation's specialist writes its report"
        )
    if new.get("signed"):
        signer = new.get("signer") or {}
        if signer.get("id") != user.id:
            raise WriteRefused(
                RejectReason.forbidden,
                "a report is signed by the person who pushes it",
                [FieldProblem(field="signer", code="invalid")],
            )
        expected = report_content_hash(normalized(DocType.report, new))
        if new.get("content_hash") != expected:
            raise WriteRefused(
                RejectReason.invalid,
                "content_hash does not match the report's content",
                [FieldProblem(field="content_hash", code="invalid")],
            )
    amends = str(new.get("amends") or "")
    if amends and (old is None or old.get("amends") != amends):
        row = conn.execute(
            sa.select(t.documents).where(
                t.documents.c.id == amends, t.documents.c.type == DocType.report.value
            )
        ).first()
        if row is None or row.consultation_id != consultation_id or not row.fields.get("signed"):
            raise WriteRefused(
                RejectReason.invalid,
                "an amendment references a signed report of the same consultation",
                [FieldProblem(field="amends", code="invalid")],
            )
        if int(new.get("version") or 1) <= int(row.fields.get("version") or 1):
            raise WriteRefused(
                RejectReason.invalid,
                "an amendment's version is higher than the report it corrects",
                [FieldProblem(field="version", code="invalid")],
            )
