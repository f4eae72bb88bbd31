"""From the inbox to the patient's record: match a study to a registry patient (by patient ID,
or by a person's one click) and attach it to a consultation, as received or as priors.

A match is a row in the inbox (study UID → patient document); attaching copies the instances
into the user's encrypted blob store as an attachment record, through the same code as files
picked by hand. The received DICOM objects are never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from app.dicom_net.inbox import Inbox, StudyRow
from app.protocol.sync import DocType

PURPOSE_RECEIVED = "received"
PURPOSE_PRIOR = "prior"


@dataclass(frozen=True)
class RegistryPatient:
    """A registry patient as the matcher needs it."""

    doc_id: str
    number: str
    name: str


def registry_patients(store: Any) -> list[RegistryPatient]:
    """The signed-in user's patients (blocking: call on a worker)."""
    return [
        RegistryPatient(doc.id, str(doc.fields.get("patient_number", "") or ""),
                        str(doc.fields.get("name", "") or ""))
        for doc in store.list(DocType.patient)
    ]  # fmt: skip


def auto_match(inbox: Inbox, profile: str, patients: list[RegistryPatient]) -> list[str]:
    """Match unmatched studies whose DICOM PatientID equals a patient number; return UIDs."""
    by_number = {p.number: (p.doc_id, p.name) for p in patients if p.number}
    return inbox.auto_match(profile, by_number)


def candidates(study: StudyRow, patients: list[RegistryPatient]) -> list[RegistryPatient]:
    """Patients to offer for a manual match: same ID first, then same name, then the rest."""
    from app.dicom_viewer.index import display_name

    shown = display_name(study.patient_name).replace(" ", "").lower()

    def rank(p: RegistryPatient) -> tuple[int, str]:
        if study.patient_id and p.number == study.patient_id:
            return 0, p.name
        if shown and p.name.replace(" ", "").lower() == shown:
            return 1, p.name
        return 2, p.name

    return sorted(patients, key=rank)


def attach_study(
    inbox: Inbox,
    session: Any,
    study_uid: str,
    patient_doc_id: str,
    consultation_id: str | None,
    purpose: str = PURPOSE_RECEIVED,
) -> Any:
    """Create an attachment record holding the study (blocking: call on a worker)."""
    from app.sync.attachments import attach_items

    study = inbox.study(study_uid)
    rows = inbox.instances(study_uid)
    if study is None or not rows:
        raise LookupError(f"study {study_uid} is not in the DICOM inbox")
    items = [(f"{row.sop_uid}.dcm", partial(inbox.read, row.sha256)) for row in rows]
    title = " ".join(x for x in (study.study_date, study.modalities, study.description) if x)
    return attach_items(
        session.store,
        session.blobs,
        items,
        patient_doc_id,
        consultation_id,
        title or study_uid,
        {"source": "dicom_network", "purpose": purpose, "received_from": study.source},
    )
