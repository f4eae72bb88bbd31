"""Patient identity as shown wherever patient data is: name, ID, sex, age."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication

from app.sync.records import patient_identity


def sex_text(code: str) -> str:
    """Translated sex."""
    return {
        "M": QCoreApplication.translate("PatientIdentity", "Male"),
        "F": QCoreApplication.translate("PatientIdentity", "Female"),
        "O": QCoreApplication.translate("PatientIdentity", "Other"),
    }.get(code, QCoreApplication.translate("PatientIdentity", "Unknown"))


def identity_parts(fields: dict[str, Any] | None) -> tuple[str, str, str, str]:
    """(name, ID, sex, age) for table columns."""
    if not fields:
        unknown = QCoreApplication.translate("PatientIdentity", "(patient not synced yet)")
        return unknown, "", "", ""
    ident = patient_identity(fields)
    age = (
        QCoreApplication.translate("PatientIdentity", "{n} y").format(n=ident["age"])
        if ident["age"]
        else QCoreApplication.translate("PatientIdentity", "age unknown")
    )
    return ident["name"], ident["patient_number"], sex_text(ident["sex"]), age


def identity_text(fields: dict[str, Any] | None) -> str:
    """One line: 王秀英 · ID PH0001 · Female · 68 y."""
    name, number, sex, age = identity_parts(fields)
    if not sex:
        return name
    id_text = QCoreApplication.translate("PatientIdentity", "ID {id}").format(
        id=number or QCoreApplication.translate("PatientIdentity", "none")
    )
    return " · ".join([name, id_text, sex, age])


def sync_text(item: Any) -> str:
    """Per-record sync state (an ``ItemStatus``) in words."""
    if item.state == "uploading":
        return QCoreApplication.translate("SyncItem", "Uploading {n}%").format(n=item.percent)
    if item.state == "error":
        # The store keeps "<RejectReason>: <hub's English message>"; the code is worded.
        from app.ui.wording import reject_reason_text

        code = str(item.reason).split(":", 1)[0].strip()
        return QCoreApplication.translate("SyncItem", "Error: {reason}").format(
            reason=reject_reason_text(code)
        )
    return {
        "pending": QCoreApplication.translate("SyncItem", "Waiting to sync"),
        "synced": QCoreApplication.translate("SyncItem", "Synced"),
        "conflict": QCoreApplication.translate("SyncItem", "Conflict — needs your choice"),
    }.get(item.state, item.state)
