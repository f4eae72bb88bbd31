"""Who may see what: a user's facility, plus the consultations they take part in.

A user takes part in consultation C when they belong to its requesting facility, or — once
C has been submitted (a draft is the clinic's alone) — are its assigned specialist, a
specialist of its target facility's department named on it, or a coordinator at its target
facility (coordinators assign specialists). What each side may *write* is
``hub.write_rules``. A participant sees
C's documents, its patient's patient document, and blobs referenced by visible attachments.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.protocol.auth import Role, UserInfo
from hub import db as t
from hub.db import Database


def my_consultations(user: UserInfo) -> sa.Select:
    """SELECT of ids of the consultations ``user`` takes part in."""
    c = t.consultations.c
    # The consulting side sees a request only once it is sent: a draft is the clinic's own.
    others = [c.specialist_id == user.id]
    if user.department and user.role == Role.specialist:
        others.append(
            sa.and_(c.target_facility_id == user.facility_id, c.department == user.department)
        )
    if user.role in (Role.coordinator, Role.admin):
        others.append(c.target_facility_id == user.facility_id)
    return sa.select(c.id).where(
        sa.or_(
            c.requesting_facility_id == user.facility_id,
            sa.and_(c.status != "draft", sa.or_(*others)),
        )
    )


def visible_documents(user: UserInfo) -> sa.ColumnElement[bool]:
    """WHERE clause on ``documents`` for what ``user`` may read."""
    d = t.documents.c
    mine = my_consultations(user)
    patients = sa.select(t.consultations.c.patient_id).where(
        t.consultations.c.id.in_(mine.scalar_subquery())
    )
    return sa.or_(
        d.facility_id == user.facility_id,
        d.consultation_id.in_(mine),
        sa.and_(d.type == "consultation", d.id.in_(mine)),
        sa.and_(d.type == "patient", d.id.in_(patients)),
    )


def can_read_document(conn: Connection, user: UserInfo, doc_id: str) -> bool:
    return (
        conn.execute(
            sa.select(t.documents.c.id).where(t.documents.c.id == doc_id, visible_documents(user))
        ).first()
        is not None
    )


def can_read_blob(conn: Connection, user: UserInfo, sha256: str) -> bool:
    """Own facility's uploads, or blobs named by an attachment the user can read."""
    own = conn.execute(
        sa.select(t.blobs.c.sha256).where(
            t.blobs.c.sha256 == sha256, t.blobs.c.facility_id == user.facility_id
        )
    ).first()
    if own is not None:
        return True
    held = conn.execute(
        sa.select(t.blob_holders.c.sha256).where(
            t.blob_holders.c.sha256 == sha256, t.blob_holders.c.facility_id == user.facility_id
        )
    ).first()
    if held is not None:
        return True
    ref = conn.execute(
        sa.select(t.blob_refs.c.doc_id)
        .join(t.documents, t.documents.c.id == t.blob_refs.c.doc_id)
        .where(
            t.blob_refs.c.sha256 == sha256,
            t.documents.c.deleted == sa.false(),
            visible_documents(user),
        )
        .limit(1)
    ).first()
    return ref is not None


def participates(conn: Connection, user: UserInfo, consultation_id: str) -> bool:
    return (
        conn.execute(
            sa.select(t.consultations.c.id).where(
                t.consultations.c.id == consultation_id,
                t.consultations.c.id.in_(my_consultations(user)),
            )
        ).first()
        is not None
    )


def presence_visible(db: Database, user: UserInfo, user_ids: list[str]) -> set[str]:
    """Of ``user_ids``, those whose presence ``user`` may learn: themselves, and people who
    take part in a consultation with them. Anyone else reads as offline (no oracle)."""
    from hub.auth import load_user

    out = {uid for uid in user_ids if uid == user.id}
    mine = my_consultations(user)
    with db.read() as conn:
        for uid in set(user_ids) - out:
            other = load_user(conn, uid) if len(uid) <= 64 else None
            if other is None:
                continue
            shared = conn.execute(
                sa.select(t.consultations.c.id)
                .where(
                    t.consultations.c.id.in_(mine.scalar_subquery()),
                    t.consultations.c.id.in_(my_consultations(other).scalar_subquery()),
                )
                .limit(1)
            ).first()
            if shared is not None:
                out.add(uid)
    return out


def is_participant(db: Database, user: UserInfo, consultation_id: str | uuid.UUID) -> bool:
    """Whether ``user`` takes part in consultation ``consultation_id`` (stable API, e.g. for
    WebSocket signaling: ``is_participant(websocket.app.state.hub.db, user, cid)``)."""
    try:
        cid = str(uuid.UUID(str(consultation_id)))
    except ValueError:
        return False
    with db.read() as conn:
        return participates(conn, user, cid)


def consultation_participants(db: Database, consultation_id: str | uuid.UUID) -> list[UserInfo]:
    """Enabled users who take part in a consultation (e.g. whom to ring for a call)."""
    from hub.auth import load_user

    try:
        cid = str(uuid.UUID(str(consultation_id)))
    except ValueError:
        return []
    with db.read() as conn:
        ids = (
            conn.execute(sa.select(t.users.c.id).where(t.users.c.disabled == sa.false()))
            .scalars()
            .all()
        )
        out = []
        for uid in ids:
            user = load_user(conn, uid)
            if user is not None and participates(conn, user, cid):
                out.append(user)
        return out
