"""Blob bookkeeping: tus upload records, quota, final verification, download access."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time

import sqlalchemy as sa

from app.protocol.auth import UserInfo
from app.protocol.sync import BlobStatus
from app.protocol.text import bad_char
from hub import access, audit
from hub import db as t
from hub.db import insert_ignore
from hub.errors import HubError
from hub.state import HubState

CHECKSUM_ALGORITHMS = ("sha1", "sha256")


def parse_metadata(header: str | None) -> dict[str, str]:
    """tus ``Upload-Metadata``: ``key base64value,key2 base64value2``."""
    out: dict[str, str] = {}
    if not header:
        return out
    for pair in header.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        if not key or len(key) > 100 or " " in value.strip():
            raise HubError(
                400,
                "invalid_metadata",
                f"Upload-Metadata entry {pair[:40]!r} is not 'key base64value'",
            )
        try:
            raw = base64.b64decode(value.strip(), validate=True) if value else b""
        except binascii.Error:
            raise HubError(
                400, "invalid_metadata", f"Upload-Metadata value of {key[:40]!r} is not base64"
            ) from None
        # tus metadata values are any bytes; ours are a file name and type, kept for the
        # audit. What is not storable text (not UTF-8, NUL, surrogates…) becomes U+FFFD.
        out[key] = "".join(
            "\ufffd" if bad_char(ch) else ch for ch in raw.decode("utf-8", errors="replace")
        )
    return out


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """tus ``Upload-Checksum``: ``<algorithm> <base64 digest>``."""
    if header is None:
        return None
    algo, _, value = header.strip().partition(" ")
    if algo not in CHECKSUM_ALGORITHMS:
        raise HubError(
            400,
            "unsupported_checksum",
            f"checksum algorithm {algo[:20]!r} not supported; use sha1 or sha256",
        )
    try:
        return algo, base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise HubError(400, "invalid_checksum", "Upload-Checksum digest is not base64") from None


def _quota(conn: sa.Connection, state: HubState, facility_id: str) -> int:
    q = conn.execute(
        sa.select(t.facilities.c.quota_bytes).where(t.facilities.c.id == facility_id)
    ).scalar()
    return int(q) if q is not None else state.config.facility_quota


def create_upload(
    state: HubState, user: UserInfo, length: int, meta: dict[str, str]
) -> tuple[str, float]:
    """Register an upload after size and quota checks. Returns (id, expires_at)."""
    cfg = state.config
    if length > cfg.max_blob_size:
        raise HubError(
            413,
            "blob_too_large",
            f"upload of {length} bytes exceeds the hub's limit of {cfg.max_blob_size} bytes",
        )
    sha = meta.get("sha256", "").lower()
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise HubError(400, "invalid_metadata", "metadata sha256 must be 64 hex digits")
    now = time.time()
    upload_id = secrets.token_hex(16)
    with state.db.write() as conn:
        quota = _quota(conn, state, user.facility_id)
        if quota:
            used = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(t.blobs.c.size), 0)).where(
                    t.blobs.c.facility_id == user.facility_id
                )
            ).scalar_one()
            pending = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(t.uploads.c.length), 0)).where(
                    t.uploads.c.facility_id == user.facility_id,
                    t.uploads.c.sha256.is_(None),
                    t.uploads.c.expires_at > now,
                )
            ).scalar_one()
            if int(used) + int(pending) + length > quota:
                raise HubError(
                    413,
                    "quota_exceeded",
                    f"your facility's storage quota of {quota} bytes would be exceeded "
                    f"({int(used) + int(pending)} bytes in use or reserved); ask the hub administrator",
                )
        conn.execute(
            t.uploads.insert().values(
                id=upload_id,
                user_id=user.id,
                facility_id=user.facility_id,
                length=length,
                offset=0,
                meta=meta,
                created_at=now,
                expires_at=now + cfg.upload_expiry,
                sha256=None,
            )
        )
    state.blobs.create_upload(upload_id)
    return upload_id, now + cfg.upload_expiry


def get_upload(state: HubState, user: UserInfo, upload_id: str) -> sa.Row:
    """The caller's own unfinished upload (404 unknown/not theirs, 410 expired)."""
    if len(upload_id) != 32:
        raise HubError(404, "not_found", "no such upload")
    with state.db.read() as conn:
        row = conn.execute(sa.select(t.uploads).where(t.uploads.c.id == upload_id)).first()
    if row is None or row.user_id != user.id:
        raise HubError(404, "not_found", "no such upload")
    if row.sha256 is None and row.expires_at < time.time():
        raise HubError(410, "upload_expired", "this upload expired; start a new one")
    return row


def blob_states(state: HubState, user: UserInfo, shas: list[str]) -> list[BlobStatus]:
    """For each SHA-256: held and readable by ``user``, else the caller's most advanced
    unfinished upload declaring it (so an upload whose creation reply was lost resumes)."""
    now = time.time()
    wanted = {s.lower() for s in shas}
    with state.db.read() as conn:
        held = set(
            conn.execute(sa.select(t.blobs.c.sha256).where(t.blobs.c.sha256.in_(wanted))).scalars()
        )
        readable = {s for s in held if access.can_read_blob(conn, user, s)}
        rows = conn.execute(
            sa.select(t.uploads.c.id, t.uploads.c.offset, t.uploads.c.meta).where(
                t.uploads.c.user_id == user.id,
                t.uploads.c.sha256.is_(None),
                t.uploads.c.expires_at > now,
            )
        ).all()
    best: dict[str, tuple[str, int]] = {}
    for row in rows:
        sha = str((row.meta or {}).get("sha256", "")).lower()
        if sha in wanted and (sha not in best or row.offset > best[sha][1]):
            best[sha] = (row.id, int(row.offset))
    out = []
    for sha in (s.lower() for s in shas):
        if sha in readable:
            out.append(BlobStatus(sha256=sha, present=True))
        elif sha in best:
            upload_id, offset = best[sha]
            out.append(
                BlobStatus(
                    sha256=sha,
                    present=False,
                    upload_url=f"/api/v1/blobs/uploads/{upload_id}",
                    offset=offset,
                )
            )
        else:
            out.append(BlobStatus(sha256=sha, present=False))
    return out


def set_offset(state: HubState, upload_id: str, offset: int) -> None:
    with state.db.write() as conn:
        conn.execute(t.uploads.update().where(t.uploads.c.id == upload_id).values(offset=offset))


def finish_upload(state: HubState, user: UserInfo, row: sa.Row, ip: str) -> str:
    """Verify the complete upload's SHA-256 and make it a visible, content-addressed blob."""
    sha = state.blobs.hash_upload(row.id)
    expected = row.meta.get("sha256", "").lower()
    if expected and expected != sha:
        state.blobs.truncate(row.id, 0)
        set_offset(state, row.id, 0)
        raise HubError(
            460,
            "checksum_mismatch",
            f"the uploaded bytes hash to {sha}, not the declared {expected}; upload again",
        )
    with state.db.write() as conn:
        exists = conn.execute(
            sa.select(t.blobs.c.facility_id).where(t.blobs.c.sha256 == sha)
        ).first()
        state.blobs.commit(row.id, sha)
        if exists is not None and exists.facility_id != row.facility_id:
            insert_ignore(conn, t.blob_holders, {"sha256": sha, "facility_id": row.facility_id})
        if exists is None:
            conn.execute(
                t.blobs.insert().values(
                    sha256=sha,
                    size=row.length,
                    media_type=row.meta.get("filetype", "")[:255] or "application/octet-stream",
                    facility_id=row.facility_id,
                    uploaded_by=user.id,
                    created_at=time.time(),
                )
            )
        conn.execute(
            t.uploads.update().where(t.uploads.c.id == row.id).values(offset=row.length, sha256=sha)
        )
        audit.record(
            conn, user, ip, "write_blob", sha256=sha, detail=row.meta.get("filename", "")[:200]
        )
    return sha


def terminate(state: HubState, upload_id: str) -> None:
    with state.db.write() as conn:
        conn.execute(t.uploads.delete().where(t.uploads.c.id == upload_id))
    state.blobs.discard_upload(upload_id)


def purge_expired(state: HubState) -> int:
    """Delete unfinished uploads past their expiry (called at start-up and on creation)."""
    now = time.time()
    with state.db.write() as conn:
        ids = (
            conn.execute(
                sa.select(t.uploads.c.id).where(
                    t.uploads.c.sha256.is_(None), t.uploads.c.expires_at < now
                )
            )
            .scalars()
            .all()
        )
        if ids:
            conn.execute(t.uploads.delete().where(t.uploads.c.id.in_(ids)))
    for upload_id in ids:
        state.blobs.discard_upload(upload_id)
    return len(ids)


def blob_for_reader(state: HubState, user: UserInfo, sha256: str, ip: str, record: bool) -> sa.Row:
    """The blob row if ``user`` may read it (404 otherwise), audited when ``record``."""
    with state.db.read() as conn:
        row = conn.execute(sa.select(t.blobs).where(t.blobs.c.sha256 == sha256)).first()
        allowed = row is not None and access.can_read_blob(conn, user, sha256)
        patient = (
            conn.execute(
                sa.select(t.documents.c.patient_id)
                .join(t.blob_refs, t.blob_refs.c.doc_id == t.documents.c.id)
                .where(t.blob_refs.c.sha256 == sha256)
                .limit(1)
            ).scalar()
            if allowed
            else None
        )
    if not allowed or row is None:
        if record:  # a probe for someone's images is worth recording
            with state.db.write() as conn:
                audit.record(conn, user, ip, "read_denied", sha256=sha256)
        raise HubError(404, "not_found", f"no blob {sha256} in your scope")
    if record:
        with state.db.write() as conn:
            audit.record(conn, user, ip, "read_blob", patient_id=patient, sha256=sha256)
    return row


def ingest_bytes(state: HubState, user: UserInfo, data: bytes, media_type: str) -> str:
    """Store bytes as a blob without HTTP (demo seed, admin import). Returns the SHA-256."""
    sha = hashlib.sha256(data).hexdigest()
    upload_id = secrets.token_hex(16)
    state.blobs.create_upload(upload_id)
    with state.blobs.append(upload_id, 0) as f:
        f.write(data)
    with state.db.write() as conn:
        state.blobs.commit(upload_id, sha)
        if conn.execute(sa.select(t.blobs.c.sha256).where(t.blobs.c.sha256 == sha)).first() is None:
            conn.execute(
                t.blobs.insert().values(
                    sha256=sha,
                    size=len(data),
                    media_type=media_type,
                    facility_id=user.facility_id,
                    uploaded_by=user.id,
                    created_at=time.time(),
                )
            )
    return sha
