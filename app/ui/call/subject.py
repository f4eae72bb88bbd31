"""The patient and purpose of a call, in words, looked up off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication

from app.sync.call_subject import CallSubject, call_subject
from app.ui.bridge import run_in_worker
from app.ui.sync.identity import sex_text


def patient_line(subject: CallSubject | None) -> str:
    """李建国 · 男 · 64 岁 — or why the patient cannot be shown (never an id)."""
    if subject is None:
        return QCoreApplication.translate(
            "CallSubject", "Patient: this consultation is not on this computer yet"
        )
    if not subject.patient_name:
        return QCoreApplication.translate("CallSubject", "Patient: record not synced yet")
    age = (
        QCoreApplication.translate("CallSubject", "{n} y").format(n=subject.age)
        if subject.age
        else QCoreApplication.translate("CallSubject", "age unknown")
    )
    return QCoreApplication.translate("CallSubject", "Patient: {name} · {sex} · {age}").format(
        name=subject.patient_name, sex=sex_text(subject.sex), age=age
    )


def purpose_line(subject: CallSubject | None) -> str:
    """The consultation's purpose, or that it is unknown here."""
    if subject is None or not subject.purpose:
        return QCoreApplication.translate("CallSubject", "Purpose: not known on this computer")
    return QCoreApplication.translate("CallSubject", "Purpose: {purpose}").format(
        purpose=subject.purpose
    )


def look_up_subject(
    context: Any, consultation_id: str, done: Callable[[CallSubject | None], None]
) -> None:
    """Find the call's subject in the signed-in user's local records (on a worker); ``done``
    runs on the GUI thread (with None when there are no local records)."""
    from app.ui.sync.wiring import sync_session

    session = sync_session(context)
    if session is None or not consultation_id:
        done(None)
        return
    run_in_worker(
        call_subject, session.store, consultation_id, on_done=done, on_error=lambda _e: done(None)
    )
