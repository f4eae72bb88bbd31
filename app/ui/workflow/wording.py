"""Validation problems and hub refusals as sentences in the user's language, naming the field.

The record schemas report :class:`app.protocol.problems.FieldProblem` (field + stable code +
params), never a library's English; this words them. Labels come from
:func:`app.ui.workflow.labels.field_label`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication

from app.ui.workflow.labels import field_label


def problem_sentence(problem: Any) -> str:
    """One sentence: "<field>: <what is wrong>" (or just what is wrong for the record)."""
    code = getattr(problem, "code", "invalid")
    params: dict[str, Any] = dict(getattr(problem, "params", {}) or {})
    field = str(getattr(problem, "field", "") or "")
    sentences = {
        "required": QCoreApplication.translate("Problem", "must be filled in."),
        "too_long": QCoreApplication.translate(
            "Problem", "is too long (at most {max} characters)."
        ),
        "too_short": QCoreApplication.translate(
            "Problem", "is too short (at least {min} characters)."
        ),
        "out_of_range": QCoreApplication.translate("Problem", "must be between {min} and {max}."),
        "not_a_number": QCoreApplication.translate("Problem", "must be a number."),
        "invalid_choice": QCoreApplication.translate(
            "Problem", "is not one of the allowed choices."
        ),
        "invalid_format": QCoreApplication.translate("Problem", "is not in the expected form."),
        "invalid_date": QCoreApplication.translate(
            "Problem", "must be a date written year-month-day, e.g. 1965-03-15."
        ),
        "invalid_datetime": QCoreApplication.translate(
            "Problem", "must be a date and time, e.g. 2026-03-15 14:30."
        ),
        "future_date": QCoreApplication.translate("Problem", "cannot be in the future."),
        "id_card_length": QCoreApplication.translate(
            "Problem", "must have 18 characters (it has {length})."
        ),
        "id_card_format": QCoreApplication.translate(
            "Problem", "must be 17 digits followed by a digit or X."
        ),
        "id_card_checksum": QCoreApplication.translate(
            "Problem", "has a wrong check character — please check the number for a typing slip."
        ),
        "id_card_birth_date": QCoreApplication.translate(
            "Problem", "does not contain a real birth date (characters 7–14)."
        ),
        "id_card_birth_mismatch": QCoreApplication.translate(
            "Problem", "does not match the birth date in the resident ID number ({from_id})."
        ),
        "id_card_sex_mismatch": QCoreApplication.translate(
            "Problem", "does not match the sex in the resident ID number."
        ),
        "consent_required": QCoreApplication.translate(
            "Problem",
            "The patient's written informed consent (who, when and a photo or scan of the "
            "signed form) is needed before the request can be submitted.",
        ),
        "icd10_format": QCoreApplication.translate(
            "Problem", "is not an ICD-10 code (for example I10 or E11.9)."
        ),
        "amendment_reason_required": QCoreApplication.translate(
            "Problem", "An amendment must say why the report is corrected."
        ),
    }
    text = sentences.get(code, QCoreApplication.translate("Problem", "is not valid."))
    if "min" in params or "max" in params:
        params.setdefault("min", "…")
        params.setdefault("max", "…")
    try:
        text = text.format(**params)
    except (KeyError, IndexError, ValueError):
        pass
    if code in ("consent_required", "amendment_reason_required") or not field:
        return text
    label = field_label(field.split(".")[-1] if "." in field else field)
    return QCoreApplication.translate("Problem", "{field} {problem}").format(
        field=label, problem=text
    )


def refusal_sentence(code: str, field: str = "") -> str:
    """A lifecycle step or a write refused (by this client's check or by the hub)."""
    if code == "consent_required" or field == "consent" or field.startswith("consent."):
        return problem_sentence(type("P", (), {"code": "consent_required", "field": field})())
    sentences = {
        "forbidden": QCoreApplication.translate(
            "Problem",
            "This step belongs to the other side of the consultation (or to a coordinator): "
            "you cannot take it.",
        ),
        "invalid_transition": QCoreApplication.translate(
            "Problem", "This step is not possible in the consultation's current state."
        ),
        "immutable": QCoreApplication.translate(
            "Problem",
            "A signed report cannot be changed. Write an amendment that says what is corrected.",
        ),
        "not_found": QCoreApplication.translate(
            "Problem", "The record no longer exists on the hub."
        ),
        "missing_blob": QCoreApplication.translate(
            "Problem", "An attached file has not reached the hub yet; it will be sent again."
        ),
        "too_large": QCoreApplication.translate("Problem", "The record is too large to send."),
        "conflict": QCoreApplication.translate(
            "Problem", "Someone else changed this record at the same time."
        ),
    }
    if code == "invalid" and field:
        return QCoreApplication.translate("Problem", "{field} must be filled in.").format(
            field=field_label(field.split(".")[-1])
        )
    return sentences.get(code, QCoreApplication.translate("Problem", "The change was refused."))


def problems_text(exc: BaseException) -> str:
    """Every problem of a refused write, one sentence per line, in the user's language."""
    problems = getattr(exc, "problems", None)
    if problems:
        return "\n".join(problem_sentence(p) for p in problems)
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return refusal_sentence(code, str(getattr(exc, "field", "") or ""))
    return str(exc)


def sync_error_text(sync_error: str) -> str:
    """A record's stored hub refusal (``"reason: message"``) in the user's language."""
    reason = sync_error.split(":", 1)[0].strip()
    return refusal_sentence(reason)
