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


# Series co-viewing cannot show as images: presentation states, reports, key-object notes,
# waveforms (the ECG view has no shared view state).
NOT_VIEWABLE = frozenset({"PR", "SR", "KO", "DOC", "ECG", "HD", "RESP", "EPS"})


@dataclass
class ConsultationSeries:
    """The image series attached to one consultation (from its attachment records'
    manifests), and what this computer holds of them. Blocking methods: call on a worker."""

    consultation_id: str
    patient: dict[str, Any] | None
    patient_doc_id: str
    series: dict[str, list[str]]  # series UID → blob SHA-256s, in instance order
    blobs: Any
    engine: Any

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self.series)

    def held(self, series_uid: str) -> tuple[int, int]:
        """(instances here, instances in the series)."""
        shas = self.series.get(series_uid, [])
        return sum(1 for sha in shas if self.blobs.has(sha)), len(shas)

    def complete(self, series_uid: str) -> bool:
        """Every image of the series is on this computer."""
        have, total = self.held(series_uid)
        return total > 0 and have >= total

    def fetch_first(self, series_uid: str) -> None:
        """Queue the series' missing blobs ahead of every other download."""
        for sha in reversed(self.series.get(series_uid, [])):  # the first image goes first
            if not self.blobs.has(sha):
                self.engine.request_blob(sha, urgent=True)

    def items(self, series_uid: str) -> list[tuple[str, Any]]:
        """``(name, opener)`` for the viewer; each read decrypts from the blob store."""
        blobs = self.blobs
        return [
            (f"{sha[:16]}.dcm", lambda sha=sha: blobs.read_bytes(sha))
            for sha in self.series.get(series_uid, [])
        ]


def consultation_series(session: Any, consultation_id: str) -> ConsultationSeries:
    """Read the consultation's image series from the local store (blocking)."""
    store = session.store
    doc = store.get(consultation_id)
    patient = store.get(doc.patient_id) if doc is not None and doc.patient_id else None
    series: dict[str, list[str]] = {}
    # Oldest attachment first: the study sent with the request leads, priors follow.
    for a in reversed(store.list(DocType.attachment, consultation_id=consultation_id)):
        if not a.fields.get("series"):
            _series_from_headers(session.blobs, a.fields, series)
        for s in a.fields.get("series") or []:
            uid = str(s.get("series_uid", ""))
            if not uid or str(s.get("modality", "")) in NOT_VIEWABLE:
                continue
            instances = sorted(s.get("instances") or [], key=lambda i: int(i.get("number") or 0))
            shas = series.setdefault(uid, [])
            shas += [str(i["sha256"]) for i in instances if str(i.get("sha256")) not in shas]
    return ConsultationSeries(
        consultation_id,
        patient.fields if patient is not None else None,
        str(doc.patient_id or "") if doc is not None else "",
        series,
        session.blobs,
        session.engine,
    )


def _series_from_headers(blobs: Any, fields: dict[str, Any], series: dict[str, list[str]]) -> None:
    """An attachment without a series manifest (older clients, the demo hub): learn the
    series of its DICOM blobs held here from their headers."""
    import io

    import pydicom

    for b in fields.get("blobs") or []:
        sha = str(b.get("sha256", ""))
        if b.get("media_type") != "application/dicom" or not sha or not blobs.has(sha):
            continue
        try:
            ds = pydicom.dcmread(io.BytesIO(blobs.read_bytes(sha)), stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - an unreadable file is not offered, the rest are
            continue
        uid = str(ds.get("SeriesInstanceUID", ""))
        if uid and str(ds.get("Modality", "")) not in NOT_VIEWABLE:
            series.setdefault(uid, []).append(sha)
