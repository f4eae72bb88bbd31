"""Records: idempotent push with three-way field merge, cursor pull, reconciliation digest."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from app.protocol.auth import UserInfo
from app.protocol.problems import FieldProblem
from app.protocol.sync import (
    ATTACHMENT_BLOBS_FIELD,
    CONSULTATION_PARTICIPANT_FIELDS,
    MAX_FIELDS_BYTES,
    AttachmentBlob,
    Change,
    ConflictInfo,
    ConflictVersion,
    ConsultationStatus,
    DocType,
    Document,
    PullResponse,
    PushResult,
    PushStatus,
    ReconcileResponse,
    RejectReason,
    cursor_txn,
    scope_digest,
    txn_cursor,
)
from hub import access, audit, write_rules
from hub import db as t
from hub.change_numbers import ChangeNumbers, horizon, lock_patients
from hub.db import Database
from hub.errors import HubError

_MISSING = object()
MAX_NESTING = 32  # lists/dicts inside fields; deeper structures are not clinical data


def _nesting(value: Any) -> int:
    """Depth of nested lists/dicts (iterative: hostile input must not exhaust the stack)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                return deepest
            stack.extend((x, depth) for x in item)
    return deepest


_DELETED_KEY = "(deleted)"  # pseudo-field: a delete colliding with an edit is a conflict too


class _PushContext:
    """Per-push state: the patients' write locks (taken first, so pushes about one patient
    never race each other), the change numbers, and caches of scope checks repeated for
    documents of one patient."""

    def __init__(self, conn: Connection, changes: list[Change]) -> None:
        lock_patients(conn, {_patient_key(ch) for ch in changes})
        self.numbers = ChangeNumbers(conn, len(changes))
        self.patient_ok: dict[str, Rejected | None] = {}
        self.consultation_ok: dict[tuple[str, str], Rejected | None] = {}

    def seq(self) -> int:
        return self.numbers.next()


def _patient_key(ch: Change) -> str:
    """The patient a change is about (a change naming a wrong one is refused anyway)."""
    return str(ch.id if ch.type == DocType.patient else ch.patient_id)


class Rejected(Exception):
    def __init__(
        self, reason: RejectReason, message: str, problems: list[FieldProblem] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.problems = problems or []


@contextmanager
def _write_rules() -> Iterator[None]:
    """hub.write_rules refusals as push rejections (with their field problems)."""
    try:
        yield
    except write_rules.WriteRefused as exc:
        raise Rejected(exc.reason, exc.message, exc.problems) from None


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def to_document(row: Any) -> Document:
    """A ``documents`` row as the wire model."""
    return Document(
        id=row.id,
        type=DocType(row.type),
        rev=row.rev,
        seq=row.seq,
        fields={} if row.deleted else row.fields,
        deleted=row.deleted,
        facility_id=row.facility_id,
        patient_id=row.patient_id,
        consultation_id=row.consultation_id,
        conflict=ConflictInfo.model_validate(row.conflict) if row.conflict else None,
        updated_at=_ts(row.updated_at),
        updated_by=row.updated_by,
    )


class _Row:
    """Attribute access over a dict of column values (a row we just wrote)."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


def _opt(u: uuid.UUID | None) -> str | None:
    return str(u) if u is not None else None


# ---------------------------------------------------------------- validation


def _check_scoping(conn: Connection, user: UserInfo, ch: Change, ctx: _PushContext) -> None:
    """New document: scope attributes fit its type and the author may write there."""
    if ch.type == DocType.patient:
        if ch.patient_id not in (None, ch.id) or ch.consultation_id is not None:
            raise Rejected(
                RejectReason.invalid, "a patient document has no patient_id or consultation_id"
            )
        return
    if ch.patient_id is None:
        raise Rejected(RejectReason.invalid, f"a {ch.type} document needs patient_id")
    if ch.type == DocType.consultation and ch.consultation_id is not None:
        raise Rejected(RejectReason.invalid, "a consultation document has no consultation_id")
    pid = str(ch.patient_id)
    if pid not in ctx.patient_ok:
        ctx.patient_ok[pid] = _patient_problem(conn, user, pid)
    problem = ctx.patient_ok[pid]
    if problem is not None and (
        problem.reason != RejectReason.not_found
        or ch.type == DocType.consultation
        or ch.consultation_id is None
    ):
        if problem.reason == RejectReason.not_found:
            raise Rejected(RejectReason.invalid, problem.message)
        raise problem
    if ch.consultation_id is not None:
        key = (str(ch.consultation_id), pid)
        if key not in ctx.consultation_ok:
            ctx.consultation_ok[key] = _consultation_problem(conn, user, *key)
        problem = ctx.consultation_ok[key]
        if problem is not None:
            raise problem


_NO_DOCUMENT = "the hub has no such document in your scope (base_rev must be 0 for a new one)"
_NO_PATIENT = "patient_id names no patient in your scope; push the patient first"
_NO_CONSULTATION = "consultation_id names no consultation you take part in; push it first"


def _patient_problem(conn: Connection, user: UserInfo, pid: str) -> Rejected | None:
    # Absent, not a patient, or outside the author's scope: one answer, so a push cannot
    # probe which ids exist or what they are.
    patient = conn.execute(sa.select(t.documents.c.type).where(t.documents.c.id == pid)).first()
    if (
        patient is None
        or patient.type != DocType.patient
        or not access.can_read_document(conn, user, pid)
    ):
        return Rejected(RejectReason.not_found, _NO_PATIENT)
    return None


def _consultation_problem(conn: Connection, user: UserInfo, cid: str, pid: str) -> Rejected | None:
    cons = conn.execute(sa.select(t.consultations).where(t.consultations.c.id == cid)).first()
    if cons is None or not access.participates(conn, user, cid):
        return Rejected(RejectReason.not_found, _NO_CONSULTATION)
    if cons.patient_id != pid:
        return Rejected(RejectReason.invalid, "patient_id differs from the consultation's patient")
    return None


def _check_fields(
    conn: Connection, user: UserInfo, doc_type: DocType, fields: dict, old: dict | None
) -> None:
    """Type-specific rules on the fields a revision would have."""
    if len(json.dumps(fields, ensure_ascii=False, default=str)) > MAX_FIELDS_BYTES:
        raise Rejected(RejectReason.too_large, f"fields exceed {MAX_FIELDS_BYTES} bytes")
    if doc_type == DocType.attachment:
        entries = fields.get(ATTACHMENT_BLOBS_FIELD, [])
        if not isinstance(entries, list):
            raise Rejected(RejectReason.invalid, "attachment field 'blobs' must be a list")
        for entry in entries:
            try:
                blob = AttachmentBlob.model_validate(entry)
            except ValidationError as exc:
                raise Rejected(
                    RejectReason.invalid, f"attachment blob entry invalid: {exc.errors()[0]['msg']}"
                ) from None
            # Only blobs the author can already read: a hash alone is no key to another
            # facility's images, and "not yours" reads exactly like "not there".
            if not access.can_read_blob(conn, user, blob.sha256):
                raise Rejected(
                    RejectReason.missing_blob,
                    f"blob {blob.sha256} is not among your uploads or your scope; upload it first",
                )


# ---------------------------------------------------------------- side tables


def _index(
    conn: Connection,
    doc_id: str,
    doc_type: str,
    facility_id: str,
    patient_id: str | None,
    fields: dict,
    deleted: bool,
) -> bool:
    """Keep consultations/blob_refs in step with a stored revision. Returns True when the set
    of participants of a consultation changed."""
    if doc_type == DocType.consultation:
        values = {
            k: ("" if deleted else str(fields.get(k, "") or ""))
            for k in CONSULTATION_PARTICIPANT_FIELDS
        }
        values["status"] = (
            ConsultationStatus.closed.value
            if deleted
            else str(fields.get("status") or ConsultationStatus.draft.value)
        )
        # The consent scan is a blob of the consultation itself: participants may read it.
        conn.execute(t.blob_refs.delete().where(t.blob_refs.c.doc_id == doc_id))
        scan = ((fields.get("consent") or {}).get("scan") or {}) if not deleted else {}
        if isinstance(scan, dict) and isinstance(scan.get("sha256"), str):
            conn.execute(t.blob_refs.insert(), [{"doc_id": doc_id, "sha256": scan["sha256"]}])
        old = conn.execute(sa.select(t.consultations).where(t.consultations.c.id == doc_id)).first()
        if old is None:
            conn.execute(
                t.consultations.insert().values(
                    id=doc_id, patient_id=patient_id, requesting_facility_id=facility_id, **values
                )
            )
            return False
        conn.execute(
            t.consultations.update().where(t.consultations.c.id == doc_id).values(**values)
        )
        left_draft = old.status == ConsultationStatus.draft and values["status"] != old.status
        return left_draft or any(
            getattr(old, k) != values[k] for k in CONSULTATION_PARTICIPANT_FIELDS
        )
    if doc_type == DocType.attachment:
        conn.execute(t.blob_refs.delete().where(t.blob_refs.c.doc_id == doc_id))
        shas = {} if deleted else {e["sha256"] for e in fields.get(ATTACHMENT_BLOBS_FIELD, [])}
        if shas:
            conn.execute(t.blob_refs.insert(), [{"doc_id": doc_id, "sha256": s} for s in shas])
    return False


def _reannounce(
    conn: Connection, ctx: _PushContext, consultation_id: str, patient_id: str | None
) -> None:
    """Give a consultation's documents (and its patient) new seqs so that participants who
    just joined receive them on their next pull (their cursors are past the old seqs)."""
    d = t.documents.c
    ids = (
        conn.execute(
            sa.select(d.id)
            .where(
                sa.or_(
                    d.consultation_id == consultation_id,
                    d.id == consultation_id,
                    d.id == (patient_id or ""),
                )
            )
            .order_by(d.seq)
        )
        .scalars()
        .all()
    )
    if not ids:
        return
    for doc_id, seq in zip(ids, ctx.numbers.take(len(ids)), strict=True):
        conn.execute(
            t.documents.update().where(d.id == doc_id).values(seq=seq, txn=ctx.numbers.txn)
        )


# ---------------------------------------------------------------- push


def _three_way(base: dict, theirs: dict, ours: dict) -> tuple[dict, list[str], bool]:
    """Merge field edits. Returns (merged, overlapping keys, ours_changed_anything)."""
    keys = set(base) | set(theirs) | set(ours)
    ours_changed = {k for k in keys if ours.get(k, _MISSING) != base.get(k, _MISSING)}
    theirs_changed = {k for k in keys if theirs.get(k, _MISSING) != base.get(k, _MISSING)}
    overlap = sorted(
        k for k in ours_changed & theirs_changed if ours.get(k, _MISSING) != theirs.get(k, _MISSING)
    )
    merged = dict(theirs)
    for k in ours_changed - set(overlap):
        if k in ours:
            merged[k] = ours[k]
        else:
            merged.pop(k, None)
    return merged, overlap, bool(ours_changed)


def _apply(
    conn: Connection, user: UserInfo, ch: Change, now: float, ctx: _PushContext
) -> PushResult:
    doc_id = str(ch.id)
    if _nesting(ch.fields) > MAX_NESTING:
        raise Rejected(RejectReason.invalid, f"fields are nested deeper than {MAX_NESTING} levels")
    d = t.documents.c
    cur = conn.execute(sa.select(t.documents).where(d.id == doc_id).with_for_update()).first()
    if cur is None:
        if ch.base_rev != 0:
            raise Rejected(RejectReason.not_found, _NO_DOCUMENT)
        facility = ch.facility_id or user.facility_id
        if facility != user.facility_id:
            raise Rejected(RejectReason.forbidden, "new documents belong to your own facility")
        _check_scoping(conn, user, ch, ctx)
        fields = {} if ch.deleted else ch.fields
        _check_fields(conn, user, ch.type, ch.fields, None)
        with _write_rules():
            write_rules.check_fields(ch.type, ch.fields, ch.deleted)
            write_rules.check_new(
                conn, user, ch.type, _opt(ch.patient_id), _opt(ch.consultation_id), ch.fields
            )
        patient_id = doc_id if ch.type == DocType.patient else _opt(ch.patient_id)
        seq = ctx.seq()
        values = dict(
            id=doc_id,
            type=ch.type.value,
            facility_id=facility,
            patient_id=patient_id,
            consultation_id=_opt(ch.consultation_id),
            rev=1,
            seq=seq,
            txn=ctx.numbers.txn,
            fields=fields,
            deleted=ch.deleted,
            conflict=None,
            created_by=user.id,
            updated_by=user.id,
            updated_at=now,
        )
        conn.execute(t.documents.insert(), values)
        conn.execute(
            t.revisions.insert(),
            {
                "doc_id": doc_id,
                "rev": 1,
                "fields": ch.fields,
                "deleted": ch.deleted,
                "user_id": user.id,
                "change_id": str(ch.change_id),
                "at": now,
            },
        )
        _index(conn, doc_id, ch.type, facility, patient_id, fields, ch.deleted)
        if ch.type == DocType.patient:  # later documents of this patient in the batch may use it
            ctx.patient_ok.pop(doc_id, None)
        if ch.type == DocType.consultation:
            ctx.consultation_ok.clear()
        return PushResult(
            change_id=ch.change_id,
            id=ch.id,
            status=PushStatus.applied,
            rev=1,
            seq=seq,
            document=to_document(_Row(values)),
        )

    if not access.can_read_document(conn, user, doc_id):
        # Another facility's document reads like no document at all (its existence and type
        # are not the author's to learn); a new document needs a fresh id.
        if ch.base_rev == 0:
            raise Rejected(RejectReason.invalid, "this id cannot be used; use a new random id")
        raise Rejected(RejectReason.not_found, _NO_DOCUMENT)
    if cur.type != ch.type:
        raise Rejected(
            RejectReason.type_mismatch, f"document {doc_id} is a {cur.type}, not a {ch.type}"
        )
    expected_patient = doc_id if cur.type == DocType.patient else cur.patient_id
    if (
        (ch.facility_id is not None and ch.facility_id != cur.facility_id)
        or (ch.type != DocType.patient and _opt(ch.patient_id) != expected_patient)
        or _opt(ch.consultation_id) != cur.consultation_id
    ):
        raise Rejected(
            RejectReason.scope_change,
            "facility, patient and consultation of a document cannot change",
        )
    if ch.base_rev == 0:
        raise Rejected(
            RejectReason.already_exists, "a document with this id exists; edit it with base_rev > 0"
        )
    if ch.base_rev > cur.rev:
        raise Rejected(
            RejectReason.unknown_base_rev,
            f"base_rev {ch.base_rev} is newer than the hub's rev {cur.rev}",
        )

    base = conn.execute(
        sa.select(t.revisions).where(
            t.revisions.c.doc_id == doc_id, t.revisions.c.rev == ch.base_rev
        )
    ).one()
    theirs_fields = (
        dict(cur.fields)
        if not cur.deleted
        else dict(
            conn.execute(
                sa.select(t.revisions.c.fields).where(
                    t.revisions.c.doc_id == doc_id, t.revisions.c.rev == cur.rev
                )
            ).scalar_one()
        )
    )
    base_view = {**base.fields, _DELETED_KEY: base.deleted}
    theirs_view = {**theirs_fields, _DELETED_KEY: cur.deleted}
    ours_view = {**(base.fields if ch.deleted else ch.fields), _DELETED_KEY: ch.deleted}
    merged, overlap, ours_changed = _three_way(base_view, theirs_view, ours_view)
    # Deleting a document someone else edited meanwhile (or editing one they deleted) is a
    # collision too: the hub keeps its state and records both versions.
    theirs_edited = any(
        theirs_fields.get(k, _MISSING) != base.fields.get(k, _MISSING)
        for k in set(theirs_fields) | set(base.fields)
    )
    ours_edited = not ch.deleted and any(
        ch.fields.get(k, _MISSING) != base.fields.get(k, _MISSING)
        for k in set(ch.fields) | set(base.fields)
    )
    if (
        (ch.deleted and not base.deleted and theirs_edited)
        or (cur.deleted and not base.deleted and ours_edited)
    ) and _DELETED_KEY not in overlap:
        overlap.append(_DELETED_KEY)
        merged[_DELETED_KEY] = cur.deleted
    deleted = bool(merged.pop(_DELETED_KEY, False))
    if not ours_changed and not (ch.resolves_conflict and cur.conflict):
        # Nothing new in this change (e.g. an edit made and undone): no new revision.
        return PushResult(
            change_id=ch.change_id,
            id=ch.id,
            status=PushStatus.applied,
            rev=cur.rev,
            seq=cur.seq,
            document=to_document(cur),
        )
    _check_fields(conn, user, ch.type, merged, theirs_fields)
    with _write_rules():
        write_rules.check_fields(ch.type, merged, deleted)
        write_rules.check_update(conn, user, cur, theirs_fields, merged, deleted)

    conflict = cur.conflict
    if overlap:
        status = PushStatus.conflict
        info = (
            ConflictInfo.model_validate(cur.conflict)
            if cur.conflict
            else ConflictInfo(
                fields=[],
                base_rev=ch.base_rev,
                versions=[
                    ConflictVersion(
                        rev=cur.rev,
                        fields=theirs_fields,
                        deleted=cur.deleted,
                        user_id=cur.updated_by,
                        at=_ts(cur.updated_at),
                    )
                ],
            )
        )
        info.fields = sorted(set(info.fields) | set(overlap))
        info.versions.append(
            ConflictVersion(
                rev=ch.base_rev,
                fields=ch.fields,
                deleted=ch.deleted,
                user_id=user.id,
                change_id=ch.change_id,
                at=_ts(now),
            )
        )
        conflict = info.model_dump(mode="json")
    elif ch.resolves_conflict:
        status, conflict = PushStatus.applied if ch.base_rev == cur.rev else PushStatus.merged, None
    else:
        status = PushStatus.applied if ch.base_rev == cur.rev else PushStatus.merged

    rev = cur.rev + 1
    seq = ctx.seq()
    conn.execute(
        t.documents.update()
        .where(d.id == doc_id)
        .values(
            rev=rev,
            seq=seq,
            txn=ctx.numbers.txn,
            fields={} if deleted else merged,
            deleted=deleted,
            conflict=conflict,
            updated_by=user.id,
            updated_at=now,
        )
    )
    conn.execute(
        t.revisions.insert(),
        {
            "doc_id": doc_id,
            "rev": rev,
            "fields": merged,
            "deleted": deleted,
            "user_id": user.id,
            "change_id": str(ch.change_id),
            "at": now,
        },
    )
    if _index(conn, doc_id, cur.type, cur.facility_id, cur.patient_id, merged, deleted):
        _reannounce(conn, ctx, doc_id, cur.patient_id)
    if cur.type == DocType.consultation:
        ctx.consultation_ok.clear()
    row = conn.execute(sa.select(t.documents).where(d.id == doc_id)).one()
    return PushResult(
        change_id=ch.change_id,
        id=ch.id,
        status=status,
        rev=rev,
        seq=row.seq,
        document=to_document(row),
        message=("conflicting edits to: " + ", ".join(overlap)) if overlap else "",
    )


_RETRIED = ("23505", "40P01")  # unique violation, deadlock (PostgreSQL SQLSTATE)


def push(db: Database, user: UserInfo, changes: list[Change], ip: str) -> list[PushResult]:
    """Apply changes in order; one result per change.

    Pushes about different patients run at once on PostgreSQL (those about one patient
    wait for each other, see hub.change_numbers). Two that collide anyway — one new document
    id claimed for two patients at once, an edit naming the wrong patient for a document —
    end in a unique violation or a deadlock for one of them; it runs again, sees the
    other's committed rows and is answered (or refused) as if they had come one by one."""
    for attempt in range(3):
        try:
            return _push_once(db, user, changes, ip)
        except (sa.exc.IntegrityError, sa.exc.OperationalError) as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in _RETRIED or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _push_once(db: Database, user: UserInfo, changes: list[Change], ip: str) -> list[PushResult]:
    results: list[PushResult] = []
    audit_rows: dict[str | None, dict] = {}
    rejected_rows: list[dict] = []  # a refused write may be a probe: worth recording
    seen: set[uuid.UUID] = set()
    now = time.time()
    with db.write() as conn:
        # Every check in _apply happens before its first write, so a rejected change leaves
        # nothing behind and no savepoint is needed.
        ctx = _PushContext(conn, changes)
        for ch in changes:
            if ch.change_id in seen:
                results.append(
                    PushResult(
                        change_id=ch.change_id,
                        id=ch.id,
                        status=PushStatus.rejected,
                        reason=RejectReason.duplicate_in_batch,
                        message="this change_id appears twice in the push",
                    )
                )
                continue
            seen.add(ch.change_id)
            prior = conn.execute(
                sa.select(t.applied_changes).where(
                    t.applied_changes.c.change_id == str(ch.change_id)
                )
            ).first()
            if prior is not None:
                if prior.user_id != user.id or prior.doc_id != str(ch.id):
                    results.append(
                        PushResult(
                            change_id=ch.change_id,
                            id=ch.id,
                            status=PushStatus.rejected,
                            reason=RejectReason.invalid,
                            message="this change_id was already used for another change",
                        )
                    )
                else:
                    results.append(PushResult.model_validate(prior.result))
                continue
            try:
                result = _apply(conn, user, ch, now, ctx)
                conn.execute(
                    t.applied_changes.insert(),
                    {
                        "change_id": str(ch.change_id),
                        "user_id": user.id,
                        "doc_id": str(ch.id),
                        "result": result.model_dump(mode="json"),
                        "at": now,
                    },
                )
            except Rejected as rej:
                result = PushResult(
                    change_id=ch.change_id,
                    id=ch.id,
                    status=PushStatus.rejected,
                    reason=rej.reason,
                    message=rej.message,
                    problems=rej.problems,
                )
                rejected_rows.append(
                    audit.entry(
                        user,
                        ip,
                        "write_rejected",
                        doc_id=str(ch.id),
                        detail=f"{ch.type}: {rej.reason}: {rej.message}",
                    )
                )
            results.append(result)
            if result.document is not None:
                pid = result.document.patient_id
                key = str(pid) if pid else None
                row = audit_rows.setdefault(
                    key, audit.entry(user, ip, "write", patient_id=key, detail="")
                )
                row["_n"] = row.get("_n", 0) + 1
                row["doc_id"] = str(ch.id) if row["_n"] == 1 else None
        for row in audit_rows.values():
            row["detail"] = f"pushed {row.pop('_n')} change(s)"
        audit.record_many(conn, [*audit_rows.values(), *rejected_rows])
    return results


# ---------------------------------------------------------------- pull / read / reconcile


def pull(db: Database, user: UserInfo, since: int, limit: int, ip: str) -> PullResponse:
    """Documents in scope changed after ``since``, oldest first (see docs/hub.md on cursors)."""
    d = t.documents.c
    after = cursor_txn(since)
    with db.read() as conn:
        # The horizon first: every writer below it has finished, so the documents query
        # (a later statement, a newer snapshot) sees all they stored. Nothing at or above it
        # is sent yet: a writer still running there may commit any seq.
        top = horizon(conn)
        scope = sa.select(t.documents).where(
            d.txn < top,
            access.visible_documents(user),
            d.seq > since if after is None else d.txn >= after,
        )
        rows = conn.execute(scope.order_by(d.txn, d.seq).limit(limit + 1)).all()
        has_more = len(rows) > limit
        # A page ends on a transaction boundary (the cursor names transactions); one
        # transaction larger than a page goes whole.
        end = rows[limit].txn if has_more else top
        if has_more:
            rows = [r for r in rows[:limit] if r.txn < end]
            if not rows:
                rows = conn.execute(scope.where(d.txn == end).order_by(d.seq)).all()
                end += 1
    changes, damaged = [], []
    for r in rows:
        doc = _servable(r)
        if doc is None:
            damaged.append(r)
        else:
            changes.append(doc)
    # Without more rows the whole range up to ``top`` has been seen (invisible documents
    # included), so the cursor can jump there and the next pull skips them.
    next_cursor = max(txn_cursor(end), since)
    patients: dict[str | None, int] = {}
    for r in rows:
        patients[r.patient_id] = patients.get(r.patient_id, 0) + 1
    if patients:
        with db.write() as conn:
            audit.record_many(
                conn,
                [
                    audit.entry(user, ip, "read", patient_id=p, detail=f"pulled {n} document(s)")
                    for p, n in patients.items()
                ]
                + [_damaged_entry(user, ip, r) for r in damaged],
            )
    return PullResponse(changes=changes, next_cursor=next_cursor, has_more=has_more)


def read_document(db: Database, user: UserInfo, doc_id: uuid.UUID, ip: str) -> Document | None:
    """One document if it exists and ``user`` may read it (None otherwise: 404 either way)."""
    with db.read() as conn:
        row = conn.execute(
            sa.select(t.documents).where(
                t.documents.c.id == str(doc_id), access.visible_documents(user)
            )
        ).first()
    if row is None:
        with db.write() as conn:  # a probe for patient data is worth recording too
            audit.record(conn, user, ip, "read_denied", doc_id=str(doc_id))
        return None
    doc = _servable(row)
    with db.write() as conn:
        if doc is None:
            conn.execute(t.audit.insert(), [_damaged_entry(user, ip, row)])
        else:
            audit.record(conn, user, ip, "read", patient_id=row.patient_id, doc_id=row.id)
    if doc is None:
        raise HubError(
            500,
            "document_damaged",
            f"document {row.id} is damaged on the hub and cannot be sent; the audit log names it",
        )
    return doc


def _servable(row: Any) -> Document | None:
    """The row as a Document if it can be sent (JSON-encoded as UTF-8), else None: one row
    stored before text was checked strictly must not stop everyone's pull."""
    try:
        doc = to_document(row)
        doc.model_dump_json()
    except (ValueError, UnicodeError, TypeError):
        return None
    return doc


def _damaged_entry(user: UserInfo, ip: str, row: Any) -> dict:
    return audit.entry(
        user,
        ip,
        "unservable",
        patient_id=row.patient_id,
        doc_id=row.id,
        detail="stored document cannot be encoded; left out of the reply",
    )


def reconcile(db: Database, user: UserInfo, digest: str, count: int) -> ReconcileResponse:
    d = t.documents.c
    with db.read() as conn:
        top = horizon(conn)
        pairs = conn.execute(
            sa.select(d.id, d.rev).where(
                d.deleted == sa.false(), d.txn < top, access.visible_documents(user)
            )
        ).all()
    hub_digest = scope_digest((p.id, p.rev) for p in pairs)
    return ReconcileResponse(
        match=hub_digest == digest and count == len(pairs),
        hub_digest=hub_digest,
        hub_count=len(pairs),
        cursor=txn_cursor(top),
    )
