"""Workflow refusals in the user's language: field problems go through the app's wording
module (:mod:`app.ui.wording`); lifecycle steps refused by the shared table
(``TransitionRefused``) and a sealed report are worded here."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication

from app.ui import wording
from app.ui.workflow.labels import field_label


def problem_sentence(problem: Any) -> str:
    """One field problem as a sentence naming the field."""
    return wording.problem_text(problem)


def refusal_sentence(code: str, field: str = "") -> str:
    """A lifecycle step refused (by this client's check of the shared table)."""
    if code == "consent_required" or field == "consent" or field.startswith("consent."):
        return wording.problem_text(wording.Problem(field or "consent", "consent_required"))
    if code == "invalid" and field:
        return wording.problem_text(wording.Problem(field, "required"))
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
    }
    return sentences.get(code) or wording.reject_reason_text(code)


def problems_text(exc: BaseException) -> str:
    """Whatever refused a write, as sentences in the user's language."""
    from app.protocol.consultation import TransitionRefused

    problems = getattr(exc, "problems", None)
    if problems:
        return wording.problems_text(problems)
    code = getattr(exc, "code", None)
    if isinstance(exc, TransitionRefused) or code == "immutable":
        return refusal_sentence(str(code), str(getattr(exc, "field", "") or ""))
    return wording.error_text(exc)


def sync_error_text(sync_error: str) -> str:
    """A record's stored hub refusal (``"reason: message"``) in the user's language."""
    reason = sync_error.split(":", 1)[0].strip()
    if reason == "immutable":
        return refusal_sentence(reason)
    return wording.reject_reason_text(reason)


__all__ = [
    "problem_sentence",
    "problems_text",
    "refusal_sentence",
    "sync_error_text",
    "field_label",
]
