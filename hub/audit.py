"""Append-only audit trail: who read or wrote which patient's data, when, from where.

Rows are only ever inserted (the database refuses UPDATE/DELETE on ``audit`` with a
trigger); there is no API to change them. ``python -m hub admin audit`` lists them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.protocol.auth import UserInfo
from hub import db as t


def record(
    conn: Connection,
    user: UserInfo,
    ip: str,
    action: str,
    *,
    patient_id: str | None = None,
    doc_id: str | None = None,
    sha256: str | None = None,
    detail: str = "",
) -> None:
    conn.execute(
        t.audit.insert().values(
            at=time.time(),
            user_id=user.id,
            username=user.username,
            ip=ip[:64],
            action=action,
            patient_id=patient_id,
            doc_id=doc_id,
            sha256=sha256,
            detail=detail[:500],
        )
    )


def record_account(
    conn: Connection, user_id: str, username: str, ip: str, action: str, detail: str = ""
) -> None:
    """An account event without a signed-in user (a failed or throttled sign-in, a replayed
    refresh token): ``username`` as typed, ``user_id`` when known."""
    conn.execute(
        t.audit.insert().values(
            at=time.time(),
            user_id=user_id[:64],
            username=username[:128],
            ip=ip[:64],
            action=action,
            detail=detail[:500],
        )
    )


def record_many(conn: Connection, rows: Iterable[dict]) -> None:
    rows = list(rows)
    if rows:
        conn.execute(t.audit.insert(), rows)


def entry(user: UserInfo, ip: str, action: str, **kw: str | None) -> dict:
    """A row for :func:`record_many`."""
    row = {
        "at": time.time(),
        "user_id": user.id,
        "username": user.username,
        "ip": ip[:64],
        "action": action,
        "patient_id": None,
        "doc_id": None,
        "sha256": None,
        "detail": "",
    }
    row.update(kw)
    row["detail"] = str(row["detail"] or "")[:500]
    return row


def query(
    conn: Connection,
    *,
    patient_id: str | None = None,
    username: str | None = None,
    limit: int = 200,
) -> list[sa.Row]:
    q = sa.select(t.audit).order_by(t.audit.c.id.desc()).limit(limit)
    if patient_id:
        q = q.where(t.audit.c.patient_id == patient_id)
    if username:
        q = q.where(t.audit.c.username == username)
    return list(conn.execute(q).all())
