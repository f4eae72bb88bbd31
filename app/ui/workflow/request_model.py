"""The consultation request form (远程会诊申请表): its values, the draft that saves as you
type, attachments, the informed consent, and what stops a submission. Qt-free.

The draft is a real consultation record (status ``draft``, visible only to the clinic): the
first edit creates it, later edits update it once typing pauses (``AUTOSAVE_S``), so nothing
typed is lost if the PC is switched off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.protocol.consultation import ACTIONS, PARTICIPANT_FIELDS, REQUEST_FIELDS
from app.protocol.problems import FieldProblem
from app.protocol.records import consent_problems, record_problems
from app.protocol.sync import DocType

AUTOSAVE_S = 0.8
TEXT_FIELDS = (
    "purpose",
    "reason",
    "chief_complaint",
    "present_illness",
    "past_history",
    "medication",
    "allergies",
    "case_summary",
    "exam_results",
)


@dataclass
class RequestForm:
    """One request being written for ``patient_id``."""

    patient_id: str
    consultation_id: str | None = None
    values: dict[str, Any] = field(
        default_factory=lambda: {"consultation_type": "video", "urgency": "routine"}
    )
    dirty: bool = False
    last_edit: float = 0.0
    saved_once: bool = False

    @classmethod
    def from_draft(cls, doc: Any) -> RequestForm:
        keep = {k: v for k, v in doc.fields.items() if k in REQUEST_FIELDS + PARTICIPANT_FIELDS}
        return cls(str(doc.patient_id), str(doc.id), keep, saved_once=True)

    def set(self, key: str, value: Any, now: float = 0.0) -> None:
        if isinstance(value, str):
            value = value.strip() if key not in TEXT_FIELDS else value
        if self.values.get(key) == value:
            return
        self.values[key] = value
        if key == "target_facility_id":
            self.values["department"] = ""
            self.values["specialist_id"] = ""
        elif key == "department":
            self.values["specialist_id"] = ""
        self.dirty = True
        self.last_edit = now

    def set_vital(self, key: str, value: Any, now: float = 0.0) -> None:
        vitals = dict(self.values.get("vitals") or {})
        if value in (None, ""):
            vitals.pop(key, None)
        else:
            vitals[key] = value
        self.set("vitals", vitals or None, now)

    def set_consent(self, now: float = 0.0, **parts: Any) -> None:
        consent = dict(self.values.get("consent") or {})
        consent.update({k: v for k, v in parts.items() if v is not None})
        self.set("consent", consent, now)

    def autosave_due(self, now: float) -> bool:
        """True once typing has paused long enough to save the draft."""
        return self.dirty and now - self.last_edit >= AUTOSAVE_S

    def fields(self) -> dict[str, Any]:
        """The draft's fields as stored (a draft may hold a consent still being filled in)."""
        out = {k: v for k, v in self.values.items() if v not in (None, "")}
        out["status"] = "draft"
        return out

    def save(self, store: Any) -> Any:
        """Create or update the draft record (blocking: call on a worker)."""
        fields = self.fields()
        self.dirty = False
        if self.consultation_id is None:
            doc = store.create(DocType.consultation, fields, patient_id=self.patient_id)
            self.consultation_id = str(doc.id)
        else:
            doc = store.get(self.consultation_id)
            changes = {k: v for k, v in fields.items() if doc is None or doc.fields.get(k) != v}
            # A field emptied in the form is emptied in the record too.
            for key in (*REQUEST_FIELDS, *PARTICIPANT_FIELDS):
                if doc is not None and doc.fields.get(key) and key not in fields:
                    changes[key] = None if key in ("vitals", "consent") else ""
            doc = store.update(self.consultation_id, changes) if changes else doc
        self.saved_once = True
        return doc

    def submit_problems(self) -> list[FieldProblem]:
        """What stops this request from being submitted (empty: it can go)."""
        problems: list[FieldProblem] = []
        for key in ACTIONS["submit"].requires:
            if key == "consent":
                continue
            if self.values.get(key) in (None, "", [], {}):
                problems.append(FieldProblem(field=key, code="required"))
        problems += consent_problems(self.values.get("consent"))
        checked = record_problems(DocType.consultation, self.fields())
        seen = {(p.field, p.code) for p in problems}
        problems += [p for p in checked if (p.field, p.code) not in seen]
        return problems


ATTACH_KINDS = ("dicom", "photo", "ecg", "pdf", "consent")


def attach(
    store: Any,
    blobs: Any,
    paths: list[Any],
    patient_id: str,
    consultation_id: str,
    kind: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """Each file its own attachment record (a DICOM folder: one study record), named after the
    file; ``kind`` overrides the guess from the content (photo, ECG, consent scan…)."""
    from pathlib import Path

    from app.sync.attachments import attach_files

    docs = []
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    dicom = [f for f in files if _is_dicom(f)]
    others = [f for f in files if f not in dicom]
    if dicom:
        title = Path(paths[0]).name if len(paths) == 1 else dicom[0].parent.name
        docs.append(attach_files(store, blobs, dicom, patient_id, consultation_id, title))
    for n, f in enumerate(others, 1):
        forced = kind if kind and kind != "dicom" else None
        docs.append(attach_files(store, blobs, [f], patient_id, consultation_id, f.name, forced))
        if progress is not None:
            progress(n, len(others))
    return docs


def _is_dicom(path: Any) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def consent_scan(store: Any, blobs: Any, path: Any, patient_id: str, consultation_id: str) -> dict:
    """Store the signed form's photo/scan as a ``consent`` attachment; returns the blob entry
    for ``consent.scan``."""
    doc = attach(store, blobs, [path], patient_id, consultation_id, kind="consent")[0]
    return dict(doc.fields["blobs"][0])
