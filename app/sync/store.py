"""Local records and the outbox: every local write changes both in one transaction.

The outbox holds ``Change`` messages in order. A change not yet sent is updated in place by
later edits of the same document; once sent (``attempts > 0``) it is frozen, because the hub
may already have stored it under its ``change_id``, and a later edit gets a new change. Only
the first pending change of a document is pushed at a time; when its result arrives the next
one is rebased onto the hub's new revision, so a client never conflicts with itself.

Pulled documents never overwrite a document with pending changes (the hub's version is kept
beside it in ``hub_fields`` and the three-way merge happens at the hub on push).
"""

from __future__ import annotations

import builtins
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.protocol.problems import Problem
from app.protocol.sync import (
    Change,
    ConflictInfo,
    DocType,
    Document,
    PushResult,
    PushStatus,
    referenced_blobs,
    scope_digest,
)
from app.sync.cache import Cache
from app.sync.records import RecordInvalid, check_transition, validate_fields

log = logging.getLogger(__name__)

CURSOR_KEY = "pull_cursor"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class LocalDoc:
    """A document as the user sees it, with its sync state."""

    id: str
    type: DocType
    fields: dict[str, Any]
    rev: int
    deleted: bool
    facility_id: str | None
    patient_id: str | None
    consultation_id: str | None
    updated_at: str
    updated_by: str
    hub_rev: int
    hub_fields: dict[str, Any] | None
    conflict: ConflictInfo | None
    sync_error: str | None
    pending: int  # outbox changes not yet acknowledged

    @property
    def sync_state(self) -> str:
        """'error', 'conflict', 'pending' or 'synced' (for per-item status)."""
        if self.sync_error:
            return "error"
        if self.conflict is not None:
            return "conflict"
        return "pending" if self.pending else "synced"


_COLUMNS = (
    "d.id, d.type, d.fields, d.rev, d.deleted, d.facility_id, d.patient_id, d.consultation_id, "
    "d.updated_at, d.updated_by, d.hub_rev, d.hub_fields, d.conflict, d.sync_error, "
    "(SELECT count(*) FROM outbox o WHERE o.doc_id = d.id)"
)


def _doc(row: tuple) -> LocalDoc:
    return LocalDoc(
        id=row[0],
        type=DocType(row[1]),
        fields=json.loads(row[2]),
        rev=row[3],
        deleted=bool(row[4]),
        facility_id=row[5],
        patient_id=row[6],
        consultation_id=row[7],
        updated_at=row[8],
        updated_by=row[9],
        hub_rev=row[10],
        hub_fields=json.loads(row[11]) if row[11] else None,
        conflict=ConflictInfo.model_validate_json(row[12]) if row[12] else None,
        sync_error=row[13],
        pending=row[14],
    )


def _same_step(queued: dict[str, Any], edited: dict[str, Any]) -> bool:
    """Whether an edit continues the queued change's workflow step: same status and no new
    entry in the consultation's timeline (a step such as proposing a time keeps the status
    but adds an entry)."""
    return queued.get("status") == edited.get("status") and len(queued.get("history") or []) == len(
        edited.get("history") or []
    )


class RecordStore:
    """Documents and outbox in the cache, for one signed-in user."""

    def __init__(self, cache: Cache, user_id: str = "", facility_id: str = "") -> None:
        self.cache = cache
        self.user_id = user_id
        self.facility_id = facility_id
        self._listeners: builtins.list[Callable[[builtins.list[str]], None]] = []
        self._write_listeners: builtins.list[Callable[[], None]] = []

    # -- change notification (Qt-free; the UI bridges it to the GUI thread) --------------
    def on_change(self, listener: Callable[[list[str]], None]) -> None:
        """Call ``listener(doc_ids)`` after documents change (from any thread)."""
        self._listeners.append(listener)

    def on_local_write(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after a local write queued a change (the engine pushes soon)."""
        self._write_listeners.append(listener)

    def _wrote(self, ids: builtins.list[str]) -> None:
        self._notify(ids)
        for listener in list(self._write_listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001 - a broken listener must not break a write
                log.exception("local write listener %r failed", listener)

    def _notify(self, ids: builtins.list[str]) -> None:
        for listener in list(self._listeners):
            try:
                listener(ids)
            except Exception:  # noqa: BLE001 - a broken listener must not break sync
                log.exception("record change listener %r failed", listener)

    # -- reads -------------------------------------------------------------------------------
    def get(self, doc_id: str | uuid.UUID) -> LocalDoc | None:
        """One document, or None."""
        rows = self.cache.query(
            f"SELECT {_COLUMNS} FROM documents d WHERE d.id = ?", (str(doc_id),)
        )
        return _doc(rows[0]) if rows else None

    def list(
        self,
        doc_type: DocType | str | None = None,
        patient_id: str | None = None,
        consultation_id: str | None = None,
        include_deleted: bool = False,
    ) -> builtins.list[LocalDoc]:
        """Documents filtered by type / patient / consultation, newest first."""
        where, args = [], []
        if doc_type is not None:
            where.append("d.type = ?")
            args.append(DocType(doc_type).value)
        if patient_id is not None:
            where.append("d.patient_id = ?")
            args.append(str(patient_id))
        if consultation_id is not None:
            where.append("d.consultation_id = ?")
            args.append(str(consultation_id))
        if not include_deleted:
            where.append("d.deleted = 0")
        sql = f"SELECT {_COLUMNS} FROM documents d"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_doc(r) for r in self.cache.query(sql + " ORDER BY d.updated_at DESC", tuple(args))]

    def conflicts(self) -> builtins.list[LocalDoc]:
        """Documents waiting for a person to resolve a conflict."""
        rows = self.cache.query(f"SELECT {_COLUMNS} FROM documents d WHERE d.conflict IS NOT NULL")
        return [_doc(r) for r in rows]

    def count(self) -> int:
        """Number of non-deleted documents held."""
        return int(self.cache.query("SELECT count(*) FROM documents WHERE deleted = 0")[0][0])

    # -- local writes (document + outbox in one transaction) ---------------------------------
    def create(
        self,
        doc_type: DocType | str,
        fields: dict[str, Any],
        patient_id: str | uuid.UUID | None = None,
        consultation_id: str | uuid.UUID | None = None,
        doc_id: str | uuid.UUID | None = None,
    ) -> LocalDoc:
        """Create a record locally and queue it for the hub."""
        doc_type = DocType(doc_type)
        clean = validate_fields(doc_type, fields)
        if doc_type != DocType.patient and patient_id is None:
            raise RecordInvalid(
                f"a {doc_type.value} record must belong to a patient",
                [Problem("", "needs_patient")],
                doc_type.value,
            )
        doc_id = str(doc_id or uuid.uuid4())
        pid = str(patient_id) if patient_id else None
        cid = str(consultation_id) if consultation_id else None
        with self.cache.transaction() as db:
            db.execute(
                "INSERT INTO documents(id, type, fields, rev, deleted, facility_id, patient_id, "
                "consultation_id, updated_at, updated_by) VALUES(?, ?, ?, 0, 0, ?, ?, ?, ?, ?)",
                (
                    doc_id,
                    doc_type.value,
                    json.dumps(clean),
                    self.facility_id or None,
                    pid,
                    cid,
                    _now(),
                    self.user_id,
                ),
            )
            self._enqueue(db, doc_id, doc_type, clean, 0, False, pid, cid, False, self.facility_id)
        self._wrote([doc_id])
        return self.get(doc_id)  # type: ignore[return-value]

    def update(self, doc_id: str | uuid.UUID, changes: dict[str, Any]) -> LocalDoc:
        """Change some fields of a record locally and queue the change."""
        return self._write(str(doc_id), changes, deleted=False, resolves=False)

    def delete(self, doc_id: str | uuid.UUID) -> None:
        """Delete a record locally (a tombstone goes to the hub)."""
        self._write(str(doc_id), {}, deleted=True, resolves=False)

    def resolve_conflict(self, doc_id: str | uuid.UUID, fields: dict[str, Any]) -> LocalDoc:
        """Record a person's resolution (the complete chosen fields) and queue it."""
        doc = self.get(doc_id)
        if doc is None or doc.conflict is None:
            raise RecordInvalid(
                "this record has no conflict to resolve", [Problem("", "no_conflict")]
            )
        return self._write(str(doc_id), fields, deleted=False, resolves=True, replace=True)

    def _write(
        self,
        doc_id: str,
        changes: dict[str, Any],
        deleted: bool,
        resolves: bool,
        replace: bool = False,
    ) -> LocalDoc:
        with self.cache.transaction() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM documents d WHERE d.id = ?", (doc_id,)
            ).fetchone()
            if row is None:
                raise RecordInvalid(f"no record {doc_id}", [Problem("", "not_found")])
            doc = _doc(row)
            new_fields = dict(changes) if replace else {**doc.fields, **changes}
            if not deleted:
                new_fields = validate_fields(doc.type, new_fields)
                if doc.type == DocType.consultation and not resolves:
                    check_transition(doc.fields, new_fields)
            db.execute(
                "UPDATE documents SET fields = ?, deleted = ?, updated_at = ?, updated_by = ?, "
                "sync_error = NULL WHERE id = ?",
                (json.dumps(new_fields), int(deleted), _now(), self.user_id, doc_id),
            )
            self._enqueue(
                db,
                doc_id,
                doc.type,
                new_fields,
                doc.rev,
                deleted,
                doc.patient_id,
                doc.consultation_id,
                resolves,
                doc.facility_id or self.facility_id,
            )
        self._wrote([doc_id])
        return self.get(doc_id)  # type: ignore[return-value]

    def _enqueue(
        self,
        db: Any,
        doc_id: str,
        doc_type: DocType,
        fields: dict[str, Any],
        base_rev: int,
        deleted: bool,
        patient_id: str | None,
        consultation_id: str | None,
        resolves: bool,
        facility_id: str | None,
    ) -> None:
        """Queue a change; ``facility_id`` is the document's owner (the writer's facility for a
        new one, the document's own for an update — the hub never moves a document)."""
        last = db.execute(
            "SELECT seq, change, attempts FROM outbox WHERE doc_id = ? ORDER BY seq DESC LIMIT 1",
            (doc_id,),
        ).fetchone()
        folded = Change.model_validate_json(last[1]) if last is not None else None
        if folded is not None and last[2] == 0 and _same_step(folded.fields, fields):
            # Not sent yet: fold this edit into it (its base_rev stays the one it started from).
            # A workflow step (submit, accept, propose a time, …) stays a change of its own:
            # the hub checks each step — an "accept" that also proposes a time is refused —
            # and a request created offline must exist there as a draft before its
            # attachments, which must be there before it is submitted.
            change = folded
            change.fields = fields
            change.deleted = deleted
            change.resolves_conflict = change.resolves_conflict or resolves
            db.execute(
                "UPDATE outbox SET change = ? WHERE seq = ?", (change.model_dump_json(), last[0])
            )
            return
        change = Change(
            change_id=uuid.uuid4(),
            id=uuid.UUID(doc_id),
            type=doc_type,
            base_rev=base_rev,
            fields=fields,
            deleted=deleted,
            facility_id=facility_id or None,
            patient_id=uuid.UUID(patient_id) if patient_id else None,
            consultation_id=uuid.UUID(consultation_id) if consultation_id else None,
            resolves_conflict=resolves,
        )
        db.execute(
            "INSERT INTO outbox(change_id, doc_id, change, created_at) VALUES(?, ?, ?, ?)",
            (str(change.change_id), doc_id, change.model_dump_json(), _now()),
        )

    # -- outbox (sync side) --------------------------------------------------------------------
    def pending_changes(self) -> builtins.list[Change]:
        """Every change in the outbox, in order."""
        return [
            Change.model_validate_json(r[0])
            for r in self.cache.query("SELECT change FROM outbox ORDER BY seq")
        ]

    def outbox_size(self) -> int:
        """Changes waiting for the hub."""
        return int(self.cache.query("SELECT count(*) FROM outbox")[0][0])

    def take_batch(self, limit: int, blob_ready: Callable[[str], bool]) -> builtins.list[Change]:
        """The next changes to push (first pending change per document, attachments only when
        their blobs are on the hub), marked as sent before they go out."""
        batch: builtins.list[Change] = []
        seen: set[str] = set()
        with self.cache.transaction() as db:
            for seq, doc_id, raw in db.execute(
                "SELECT seq, doc_id, change FROM outbox ORDER BY seq"
            ).fetchall():
                if doc_id in seen:
                    continue
                seen.add(doc_id)
                change = Change.model_validate_json(raw)
                if not change.deleted:
                    blobs = referenced_blobs(change.type, change.fields)
                    if not all(blob_ready(b["sha256"]) for b in blobs):
                        continue  # blobs go before the documents that reference them
                db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))
                batch.append(change)
                if len(batch) >= limit:
                    break
        return batch

    def note_push_error(self, changes: Iterable[Change], message: str) -> None:
        """Remember why a push failed (the changes stay queued)."""
        with self.cache.transaction() as db:
            for change in changes:
                db.execute(
                    "UPDATE outbox SET last_error = ? WHERE change_id = ?",
                    (message, str(change.change_id)),
                )

    def apply_push_results(
        self, changes: builtins.list[Change], results: builtins.list[PushResult]
    ) -> None:
        """Record the hub's answers: adopt revisions, rebase later edits, keep rejections."""
        by_id = {str(c.change_id): c for c in changes}
        touched: builtins.list[str] = []
        with self.cache.transaction() as db:
            for result in results:
                sent = by_id.get(str(result.change_id))
                if sent is None:
                    continue  # not ours (a broken reply): leave the outbox as it is
                doc_id = str(sent.id)
                if (
                    db.execute(
                        "SELECT 1 FROM outbox WHERE change_id = ?", (str(sent.change_id),)
                    ).fetchone()
                    is None
                ):
                    continue  # already applied (a repeated reply)
                db.execute("DELETE FROM outbox WHERE change_id = ?", (str(sent.change_id),))
                touched.append(doc_id)
                nxt = db.execute(
                    "SELECT seq, change FROM outbox WHERE doc_id = ? ORDER BY seq LIMIT 1",
                    (doc_id,),
                ).fetchone()
                if result.status == PushStatus.rejected:
                    self._reject(db, sent, result, has_more=nxt is not None)
                    continue
                hub = result.document
                rev = result.rev if result.rev is not None else (hub.rev if hub else sent.base_rev)
                hub_fields = hub.fields if hub else sent.fields
                hub_deleted = hub.deleted if hub else sent.deleted
                if hub is not None:
                    conflict = hub.conflict.model_dump_json() if hub.conflict else None
                else:
                    conflict = None if sent.resolves_conflict else _keep
                local_fields = hub_fields
                local_deleted = hub_deleted
                if nxt is not None:
                    # Later local edits stay on top of the hub's version and are rebased.
                    pending = Change.model_validate_json(nxt[1])
                    local_fields = _overlay(hub_fields, sent.fields, pending.fields)
                    local_deleted = pending.deleted
                    pending.fields = local_fields
                    pending.base_rev = rev
                    db.execute(
                        "UPDATE outbox SET change = ? WHERE seq = ?",
                        (pending.model_dump_json(), nxt[0]),
                    )
                sets = (
                    "rev = ?, hub_rev = ?, hub_fields = ?, hub_deleted = ?, fields = ?, deleted = ?, "
                    "sync_error = NULL"
                )
                args: builtins.list[Any] = [
                    rev,
                    rev,
                    json.dumps(hub_fields),
                    int(hub_deleted),
                    json.dumps(local_fields),
                    int(local_deleted),
                ]
                if conflict is not _keep:
                    sets += ", conflict = ?"
                    args.append(conflict)
                if hub is not None:
                    sets += ", facility_id = ?, updated_at = ?, updated_by = ?"
                    args += [hub.facility_id, hub.updated_at.isoformat(), hub.updated_by]
                db.execute(f"UPDATE documents SET {sets} WHERE id = ?", (*args, doc_id))
        self._notify(touched)

    def _reject(self, db: Any, sent: Change, result: PushResult, has_more: bool) -> None:
        reason = result.reason.value if result.reason else "rejected"
        db.execute(
            "INSERT OR REPLACE INTO rejected(change_id, doc_id, change, reason, message, at) VALUES(?, ?, ?, ?, ?, ?)",
            (
                str(sent.change_id),
                str(sent.id),
                sent.model_dump_json(),
                reason,
                result.message,
                _now(),
            ),
        )
        # The local version stays as the user wrote it, flagged with the hub's reason.
        db.execute(
            "UPDATE documents SET sync_error = ? WHERE id = ?",
            (f"{reason}: {result.message}".strip(": "), str(sent.id)),
        )

    def rejected(self) -> builtins.list[tuple[str, str, str]]:
        """(document id, reason, message) of changes the hub refused."""
        return [
            tuple(r)
            for r in self.cache.query("SELECT doc_id, reason, message FROM rejected ORDER BY at")
        ]

    # -- pull ------------------------------------------------------------------------------------
    def cursor(self) -> int:
        """The pull cursor (hub sequence number of the last saved page)."""
        return int(self.cache.get_state(CURSOR_KEY, "0") or 0)

    def apply_pull(
        self,
        docs: builtins.list[Document],
        next_cursor: int,
        on_attachment: Callable[[Any, dict], None] | None = None,
    ) -> None:
        """Save one pulled page and the cursor after it, in one transaction."""
        touched = []
        with self.cache.transaction() as db:
            for doc in docs:
                doc_id = str(doc.id)
                touched.append(doc_id)
                conflict = doc.conflict.model_dump_json() if doc.conflict else None
                common = (
                    doc.rev,
                    json.dumps(doc.fields),
                    int(doc.deleted),
                    conflict,
                )
                busy = db.execute(
                    "SELECT 1 FROM outbox WHERE doc_id = ? LIMIT 1", (doc_id,)
                ).fetchone()
                exists = db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone()
                if busy and exists:
                    db.execute(
                        "UPDATE documents SET hub_rev = ?, hub_fields = ?, hub_deleted = ?, conflict = ? WHERE id = ?",
                        (*common, doc_id),
                    )
                    continue
                db.execute(
                    "INSERT INTO documents(id, type, fields, rev, deleted, facility_id, patient_id, "
                    "consultation_id, updated_at, updated_by, hub_rev, hub_fields, hub_deleted, conflict) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                    "type = excluded.type, fields = excluded.fields, rev = excluded.rev, "
                    "deleted = excluded.deleted, facility_id = excluded.facility_id, "
                    "patient_id = excluded.patient_id, consultation_id = excluded.consultation_id, "
                    "updated_at = excluded.updated_at, updated_by = excluded.updated_by, "
                    "hub_rev = excluded.hub_rev, hub_fields = excluded.hub_fields, "
                    "hub_deleted = excluded.hub_deleted, conflict = excluded.conflict, sync_error = NULL",
                    (
                        doc_id,
                        doc.type.value,
                        json.dumps(doc.fields),
                        doc.rev,
                        int(doc.deleted),
                        doc.facility_id,
                        str(doc.patient_id) if doc.patient_id else None,
                        str(doc.consultation_id) if doc.consultation_id else None,
                        doc.updated_at.isoformat(),
                        doc.updated_by,
                        *common,
                    ),
                )
                if on_attachment is not None and not doc.deleted:
                    blobs = referenced_blobs(doc.type, doc.fields)
                    if blobs:
                        on_attachment(db, {"blobs": blobs})
            self.cache.set_state(CURSOR_KEY, str(next_cursor), db)
        self._notify(touched)

    def drop_unseen(self, seen: set[str]) -> int:
        """After a full pull: forget hub-known documents the hub no longer returns (out of scope
        or gone), unless they hold local changes. Returns how many were dropped."""
        dropped = 0
        with self.cache.transaction() as db:
            rows = db.execute(
                "SELECT id FROM documents WHERE hub_rev > 0 AND id NOT IN (SELECT doc_id FROM outbox)"
            ).fetchall()
            for (doc_id,) in rows:
                if doc_id not in seen:
                    db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
                    dropped += 1
        return dropped

    def digest(self) -> tuple[str, int]:
        """:func:`scope_digest` of what this cache holds of the hub, and the count."""
        rows = self.cache.query(
            "SELECT id, hub_rev FROM documents WHERE hub_rev > 0 AND hub_deleted = 0"
        )
        return scope_digest((r[0], r[1]) for r in rows), len(rows)


class _Keep:
    pass


_keep: Any = _Keep()


def _overlay(hub: dict[str, Any], sent: dict[str, Any], pending: dict[str, Any]) -> dict[str, Any]:
    """The hub's fields plus what the next local edit changed relative to what was sent."""
    out = dict(hub)
    for key in set(sent) | set(pending):
        if key not in pending:
            out.pop(key, None)
        elif sent.get(key, _keep) != pending[key]:
            out[key] = pending[key]
    return out
