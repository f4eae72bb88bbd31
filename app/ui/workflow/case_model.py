"""Everything the case screen shows about one consultation, loaded in one go off the GUI
thread: the request, the patient, attachments with their download state, the report versions,
the timeline, and the signed-in user's side and actions. Qt-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.consult.workflow import side_for
from app.protocol.consultation import Side, allowed_actions
from app.protocol.sync import DocType

PREFETCH_STATUSES = ("accepted", "scheduled", "in_call", "reported")


@dataclass
class AttachmentState:
    doc: Any
    kind: str
    name: str
    shas: list[str]
    total: int  # bytes
    have: int  # bytes held locally (whole blobs + partial downloads)

    @property
    def complete(self) -> bool:
        return self.have >= self.total

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, int(100 * self.have / self.total))


@dataclass
class Case:
    consultation: Any
    patient: dict[str, Any] | None
    side: Side
    actions: list[str]
    attachments: list[AttachmentState] = field(default_factory=list)
    reports: list[Any] = field(default_factory=list)  # oldest version first

    @property
    def fields(self) -> dict[str, Any]:
        return self.consultation.fields

    @property
    def status(self) -> str:
        return str(self.fields.get("status", "draft"))

    def current_report(self) -> Any:
        """The newest signed version, else the newest draft."""
        signed = [r for r in self.reports if r.fields.get("signed")]
        if signed:
            return signed[-1]
        return self.reports[-1] if self.reports else None

    def draft_report(self) -> Any:
        """An unsigned report (the one being written), if any."""
        return next((r for r in reversed(self.reports) if not r.fields.get("signed")), None)

    def timeline(self) -> list[dict[str, Any]]:
        """Every state change (who, when, what), plus each report signature."""
        entries = [dict(e) for e in self.fields.get("history") or [] if isinstance(e, dict)]
        for r in self.reports:
            if r.fields.get("signed"):
                signer = r.fields.get("signer") or {}
                entries.append(
                    {
                        "action": "sign_report"
                        if int(r.fields.get("version", 1)) == 1
                        else "amend",
                        "by": signer.get("id", ""),
                        "by_name": signer.get("name", ""),
                        "at": r.fields.get("signed_at", ""),
                        "reason": r.fields.get("amendment_reason", ""),
                    }
                )
        entries.sort(key=lambda e: str(e.get("at", "")))
        return entries


def _have(blobs: Any, sha: str, size: int) -> int:
    if blobs.has(sha):
        return size
    try:
        return blobs.partial_size(sha)
    except OSError:
        return 0


def load_case(session: Any, consultation_id: str, user: Any) -> Case | None:
    """Read the case from the local store (blocking: call on a worker)."""
    store, blobs = session.store, session.blobs
    doc = store.get(consultation_id)
    if doc is None:
        return None
    patient = store.get(doc.patient_id) if doc.patient_id else None
    side = side_for(user, doc)
    case = Case(
        doc,
        patient.fields if patient is not None else None,
        side,
        allowed_actions(doc.fields, side) if side is not Side.none else [],
    )
    for a in reversed(store.list(DocType.attachment, consultation_id=consultation_id)):
        entries = a.fields.get("blobs") or []
        shas = [str(b["sha256"]) for b in entries]
        total = sum(int(b.get("size") or 0) for b in entries)
        have = sum(_have(blobs, str(b["sha256"]), int(b.get("size") or 0)) for b in entries)
        case.attachments.append(
            AttachmentState(
                a,
                str(a.fields.get("kind", "file")),
                str(a.fields.get("name") or a.fields.get("title") or ""),
                shas,
                total,
                have,
            )
        )
    reports = store.list(DocType.report, consultation_id=consultation_id)
    case.reports = sorted(reports, key=lambda r: (int(r.fields.get("version", 1)), r.updated_at))
    return case


def prefetch(session: Any, case: Case) -> int:
    """Queue the case's missing blobs for download once it is accepted or scheduled (so the
    images are there when the call starts); returns how many were queued."""
    if case.status not in PREFETCH_STATUSES:
        return 0
    queued = 0
    for a in case.attachments:
        for sha in a.shas:
            if not session.blobs.has(sha):
                session.engine.request_blob(sha)
                queued += 1
    return queued
