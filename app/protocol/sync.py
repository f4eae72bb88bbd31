"""Records sync messages (``/api/v1/sync/*``), shared by hub and client.

The model in one paragraph
--------------------------
Every record is a *document* with a client-generated UUID, a ``type`` and a flat ``fields``
dict. The hub numbers revisions per document (``rev`` 1, 2, ...) and stamps every stored
change with a server-assigned, strictly increasing ``seq``; clients pull "everything after
cursor N" (an opaque number from the previous pull) — no client clock ever decides order. A client pushes a :class:`Change` carrying
the *whole* new ``fields`` of the document plus ``base_rev``: the revision it edited. The hub
compares base → hub-current and base → pushed field by field (three-way):

- ``base_rev == rev`` on the hub: the change is stored as the next revision → ``applied``.
- someone else changed *other* fields since ``base_rev``: both edits are combined into a new
  revision → ``merged`` (the result carries the merged document, adopt it).
- both changed the *same* field to different values: nothing is discarded. The hub stores a
  new revision whose fields are the hub version plus the pushed non-overlapping edits, and
  marks the document conflicted (:class:`ConflictInfo` holds every competing version in
  full) → ``conflict``. A person resolves it: push the chosen fields with
  ``resolves_conflict=True`` and ``base_rev`` = the conflicted revision.
- anything invalid or out of the user's scope → ``rejected`` with a :class:`RejectReason`.

Re-sending a change (same ``change_id``) is harmless: the hub answers with the stored
result of the first delivery. Deletes are pushes with ``deleted=True``; pulls return them as
tombstones (``deleted=True``, ``fields`` empty).

Every request carries the header ``X-YiQiao-Protocol: <PROTOCOL_VERSION>`` (see
:data:`PROTOCOL_HEADER`); the hub answers 400 ``unsupported_protocol`` to a version it does not
speak and echoes its own version on every response. A missing header is accepted as version 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.protocol import PROTOCOL_VERSION
from app.protocol.consultation import (
    CONSULTATION_TRANSITIONS,
    ConsultationStatus,
    can_transition,
)
from app.protocol.problems import FieldProblem

PROTOCOL_HEADER = "X-YiQiao-Protocol"
"""HTTP header naming the protocol version of a request/response (value: ``str(PROTOCOL_VERSION)``)."""

MAX_PUSH_BATCH = 500
"""Most changes accepted in one push (more → 413 ``batch_too_large``; halve and retry).
JSON bodies over 32 MiB get 413 ``body_too_large`` likewise."""

MAX_PULL_LIMIT = 1000
"""Largest page a pull returns."""

MAX_FIELDS_BYTES = 256 * 1024
"""Largest JSON size of one document's ``fields`` (larger → rejected ``too_large``)."""


class DocType(StrEnum):
    """Kinds of record. Scoping rules per type are in :data:`SCOPING`."""

    patient = "patient"
    consultation = "consultation"
    note = "note"
    vitals = "vitals"
    report = "report"
    annotation_set = "annotation_set"
    attachment = "attachment"


# The lifecycle (statuses, actions, sides) is app.protocol.consultation; re-exported here.


# Which scoping attributes each document type needs. The hub rejects a change that lacks one
# (``invalid``) and never lets a later change move a document to another scope (``scope_change``).
#   patient:        patient_id/consultation_id must be empty (the patient *is* the subject)
#   consultation:   patient_id required; consultation_id empty; fields: status, reason, and
#                   optionally target_facility_id, department, specialist_id (who takes part)
#   note/vitals/report/annotation_set/attachment: patient_id required, consultation_id optional
# ``facility_id`` of a new document is the author's facility (the hub fills it in when empty
# and rejects another facility with ``forbidden``).
CONSULTATION_REQUIRED_FIELDS = ("status",)
"""Fields a consultation must carry."""

CONSULTATION_PARTICIPANT_FIELDS = ("target_facility_id", "department", "specialist_id")
"""Consultation fields that decide who besides the requesting facility takes part."""

ATTACHMENT_BLOBS_FIELD = "blobs"
"""Attachment manifests list blobs in ``fields["blobs"]``: see :class:`AttachmentBlob`."""


def referenced_blobs(doc_type: DocType | str, fields: dict[str, Any]) -> list[dict[str, Any]]:
    """Blob entries a document names: an attachment's manifest, a consultation's consent
    scan. The client uploads them before pushing the document; the hub lets the document's
    readers download them."""
    if doc_type == DocType.attachment:
        entries = fields.get(ATTACHMENT_BLOBS_FIELD, [])
    elif doc_type == DocType.consultation:
        scan = (
            (fields.get("consent") or {}).get("scan")
            if isinstance(fields.get("consent"), dict)
            else None
        )
        entries = [scan] if scan else []
    else:
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("sha256"), str)]


class AttachmentBlob(BaseModel):
    """One entry of an attachment manifest (``fields["blobs"]`` is a list of these as dicts).

    The blob must be uploaded (tus) before the manifest is pushed; the hub rejects a manifest
    naming a blob it does not hold with ``missing_blob``.
    """

    model_config = ConfigDict(extra="allow")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    name: str = Field(default="", max_length=512)
    media_type: str = Field(default="application/octet-stream", max_length=255)
    size: int = Field(default=0, ge=0)
    kind: str = Field(default="file", description="dicom | photo | ecg | pdf | file")


def _no_bool_or_text(value: Any) -> Any:
    """JSON ``true`` is not the number 1, and ``"1"`` is not a number: a request field
    declared as an integer takes integers only (what the OpenAPI document says)."""
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON integer")
    return value


WireInt = Annotated[int, BeforeValidator(_no_bool_or_text)]
"""An integer of a request body: no coercion from booleans or strings."""
WireBool = Annotated[bool, Field(strict=True)]
"""A boolean of a request body: ``true``/``false`` only."""


class Change(BaseModel):
    """One document change pushed by a client (an outbox entry)."""

    model_config = ConfigDict(extra="forbid")
    change_id: UUID = Field(
        description="client-generated id of this change; re-sending it is harmless"
    )
    id: UUID = Field(description="client-generated document id")
    type: DocType
    base_rev: WireInt = Field(
        default=0,
        ge=0,
        le=2**31 - 1,
        description="revision this edit started from; 0 = new document",
    )
    fields: dict[str, Any] = Field(
        default_factory=dict, description="the complete new field values"
    )
    deleted: WireBool = False
    facility_id: str | None = Field(
        default=None, max_length=64, description="owner; empty = author's facility"
    )
    patient_id: UUID | None = None
    consultation_id: UUID | None = None
    resolves_conflict: WireBool = Field(
        default=False, description="this change is a person's resolution of the document's conflict"
    )


class ConflictVersion(BaseModel):
    """One competing version of a conflicted document, kept in full."""

    rev: int = Field(description="hub revision it was (or, for a pushed version, it was based on)")
    fields: dict[str, Any]
    deleted: bool = False
    user_id: str
    change_id: UUID | None = None
    at: datetime


class ConflictInfo(BaseModel):
    """Why a document is conflicted and every version a person must choose between."""

    fields: list[str] = Field(description="field names edited differently by both sides")
    base_rev: int
    versions: list[ConflictVersion] = Field(
        description="the hub's version first, then each pushed version that collided"
    )


class Document(BaseModel):
    """A document as the hub holds it (pull results, push results)."""

    id: UUID
    type: DocType
    rev: int = Field(ge=1)
    seq: int = Field(ge=1, description="server sequence number of this revision")
    fields: dict[str, Any]
    deleted: bool = False
    facility_id: str
    patient_id: UUID | None = None
    consultation_id: UUID | None = None
    conflict: ConflictInfo | None = None
    updated_at: datetime
    updated_by: str = Field(description="user id of the author of this revision")


class PushStatus(StrEnum):
    """Outcome of one pushed change."""

    applied = "applied"
    merged = "merged"
    conflict = "conflict"
    rejected = "rejected"


class RejectReason(StrEnum):
    """Why the hub refused a change (nothing of it was stored)."""

    forbidden = "forbidden"  # outside the user's scope or role
    invalid = "invalid"  # fields/scoping malformed for the type
    invalid_transition = "invalid_transition"  # consultation status change not allowed
    unknown_base_rev = "unknown_base_rev"  # base_rev newer than the hub's revision
    already_exists = "already_exists"  # base_rev 0 but the id exists with other content
    not_found = "not_found"  # base_rev > 0 but the hub has no such document
    type_mismatch = "type_mismatch"  # id exists with another type
    scope_change = "scope_change"  # facility/patient/consultation of a document cannot change
    missing_blob = "missing_blob"  # attachment names a blob the hub does not hold
    too_large = "too_large"  # fields bigger than MAX_FIELDS_BYTES
    duplicate_in_batch = "duplicate_in_batch"  # the same change_id twice in one push
    immutable = "immutable"  # a signed report (or other sealed record) cannot change


class PushRequest(BaseModel):
    """POST /api/v1/sync/push: up to :data:`MAX_PUSH_BATCH` changes, applied in order."""

    model_config = ConfigDict(extra="forbid")
    changes: list[Change] = Field(
        description=f"at most {MAX_PUSH_BATCH}; more → 413 batch_too_large"
    )


class PushResult(BaseModel):
    """The hub's answer for one change (same order as the request)."""

    change_id: UUID
    id: UUID
    status: PushStatus
    rev: int | None = Field(
        default=None, description="hub revision after the change (not for rejected)"
    )
    seq: int | None = None
    reason: RejectReason | None = None
    message: str = ""
    problems: list[FieldProblem] = Field(
        default_factory=list,
        description="for rejected invalid fields: which field, a stable code, parameters",
    )
    document: Document | None = Field(
        default=None, description="the hub's document after the change; adopt it (merged/conflict)"
    )


class PushResponse(BaseModel):
    results: list[PushResult]


CURSOR_TXN_BASE = 2**61
"""Pull cursors are opaque to clients (store, send back, compare; never compute). Version 2:
``CURSOR_TXN_BASE`` + the hub's transaction key below which everything in scope has been
sent (see hub.change_numbers). A value below the base is a version-1 cursor: the ``seq`` of
the last revision received, as hubs before version 2 sent it (0 = everything); still
accepted, and answered with a version-2 cursor, which is always larger."""


def txn_cursor(txn: int) -> int:
    """The version-2 cursor for "every transaction key below ``txn`` sent"."""
    return CURSOR_TXN_BASE + txn


def cursor_txn(cursor: int) -> int | None:
    """The transaction key of a version-2 cursor; None for a version-1 (seq) cursor."""
    return cursor - CURSOR_TXN_BASE if cursor >= CURSOR_TXN_BASE // 2 else None


class PullResponse(BaseModel):
    """GET /api/v1/sync/pull?since=<cursor>&limit=<n>.

    ``changes`` are the latest revision of every document in the user's scope changed after
    the cursor ``since``, oldest first. Store ``next_cursor`` only after the page is saved;
    keep pulling while ``has_more``. A page holds whole hub transactions, so it may exceed
    ``limit`` when one transaction stored more documents.
    """

    changes: list[Document]
    next_cursor: int
    has_more: bool


class ReconcileRequest(BaseModel):
    """POST /api/v1/sync/reconcile: what the client holds, as :func:`scope_digest`."""

    model_config = ConfigDict(extra="forbid")
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    count: WireInt = Field(ge=0, le=2**31 - 1)


class ReconcileResponse(BaseModel):
    """``match`` false → the client should pull again from cursor 0 (after pushing its outbox)
    and drop documents the full pull did not return."""

    match: bool
    hub_digest: str
    hub_count: int
    cursor: int = Field(description="a pull cursor that is up to date now (see PullResponse)")


def scope_digest(items: Iterable[tuple[UUID | str, int]]) -> str:
    """Order-independent digest of (document id, rev) pairs for non-deleted documents.

    Sum modulo 2**256 of SHA-256("<uuid>:<rev>") — the same set gives the same digest in any
    order. Both client and hub call this; tombstones are excluded on both sides.
    """
    total = 0
    for doc_id, rev in items:
        h = hashlib.sha256(f"{UUID(str(doc_id))}:{int(rev)}".encode()).digest()
        total = (total + int.from_bytes(h, "big")) % (1 << 256)
    return f"{total:064x}"


MAX_BLOB_QUERY = 1000
"""Most SHA-256s asked about in one :class:`BlobStatusRequest`."""

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class BlobStatusRequest(BaseModel):
    """POST /api/v1/blobs/status: one round trip instead of a HEAD per blob before uploading.

    Added in protocol 1 without changing anything else (a hub that answers 404/405 does not
    offer it: fall back to ``HEAD /blobs/{sha256}`` and ``HEAD`` on the upload URL)."""

    model_config = ConfigDict(extra="forbid")
    sha256: list[Sha256Hex] = Field(max_length=MAX_BLOB_QUERY, description="lowercase hex SHA-256s")


class BlobStatus(BaseModel):
    """What the hub has of one blob, for the caller."""

    sha256: str
    present: bool = Field(
        description="the hub holds this blob and you may read it: skip the upload"
    )
    upload_url: str | None = Field(
        default=None,
        description="your unfinished tus upload that declared this sha256 (the most advanced "
        "one); resume it with PATCH at ``offset``",
    )
    offset: int = Field(default=0, ge=0, description="bytes of that upload the hub holds")


class BlobStatusResponse(BaseModel):
    """One :class:`BlobStatus` per requested SHA-256, in request order."""

    blobs: list[BlobStatus]


__all__ = [
    "PROTOCOL_VERSION",
    "PROTOCOL_HEADER",
    "DocType",
    "ConsultationStatus",
    "CONSULTATION_TRANSITIONS",
    "FieldProblem",
    "Change",
    "Document",
    "ConflictInfo",
    "ConflictVersion",
    "PushRequest",
    "PushResponse",
    "PushResult",
    "PushStatus",
    "RejectReason",
    "PullResponse",
    "ReconcileRequest",
    "ReconcileResponse",
    "AttachmentBlob",
    "BlobStatus",
    "BlobStatusRequest",
    "BlobStatusResponse",
    "MAX_BLOB_QUERY",
    "scope_digest",
    "referenced_blobs",
    "can_transition",
]
