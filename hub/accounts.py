"""Creating and changing facilities and users (used by the admin CLI and the demo seed)."""

from __future__ import annotations

import re
import secrets
import time

import sqlalchemy as sa

from app.protocol.auth import FacilityKind, Role
from hub import db as t
from hub.auth import hash_password, revoke_user_sessions
from hub.db import Database

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def QT_TRANSLATE_NOOP(_context: str, text: str) -> str:  # noqa: N802 - the name lupdate reads
    return text


class AccountError(ValueError):
    """A bad admin request, with a sentence naming the problem. ``template`` (English, with
    ``{names}``) and ``params`` let ``main.py hub`` word it in the user's language."""

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template.format(**params))


def add_facility(
    db: Database, facility_id: str, name: str, kind: str, quota_bytes: int | None = None
) -> None:
    if not _ID.match(facility_id):
        raise AccountError(
            QT_TRANSLATE_NOOP(
                "HubCli", "facility id: lowercase letters, digits, '-', '_' or '.', at most 64"
            )
        )
    try:
        kind = FacilityKind(kind).value
    except ValueError:
        raise AccountError(
            QT_TRANSLATE_NOOP("HubCli", "kind must be one of {choices}"),
            choices=", ".join(k.value for k in FacilityKind),
        ) from None
    if not name.strip():
        raise AccountError(QT_TRANSLATE_NOOP("HubCli", "facility name must not be empty"))
    with db.write() as conn:
        if conn.execute(
            sa.select(t.facilities.c.id).where(t.facilities.c.id == facility_id)
        ).first():
            raise AccountError(
                QT_TRANSLATE_NOOP("HubCli", "facility {id} already exists"), id=repr(facility_id)
            )
        conn.execute(
            t.facilities.insert().values(
                id=facility_id,
                name=name.strip(),
                kind=kind,
                quota_bytes=quota_bytes,
                created_at=time.time(),
            )
        )


def add_user(
    db: Database,
    username: str,
    display_name: str,
    role: str,
    facility_id: str,
    password: str,
    department: str = "",
    password_hash: str | None = None,
    title: str = "",
) -> str:
    """Create a user; returns the new user id. ``password_hash`` (an argon2 hash of
    ``password``, e.g. with cheaper parameters in tests) skips hashing here."""
    if not _ID.match(username):
        raise AccountError(
            QT_TRANSLATE_NOOP(
                "HubCli", "username: lowercase letters, digits, '-', '_' or '.', at most 64"
            )
        )
    try:
        role = Role(role).value
    except ValueError:
        raise AccountError(
            QT_TRANSLATE_NOOP("HubCli", "role must be one of {choices}"),
            choices=", ".join(r.value for r in Role),
        ) from None
    if len(password) < 8:
        raise AccountError(QT_TRANSLATE_NOOP("HubCli", "password must have at least 8 characters"))
    password_hash = password_hash or hash_password(password)
    user_id = "u-" + secrets.token_hex(8)
    with db.write() as conn:
        if not conn.execute(
            sa.select(t.facilities.c.id).where(t.facilities.c.id == facility_id)
        ).first():
            raise AccountError(
                QT_TRANSLATE_NOOP("HubCli", "no facility {id}; create it first"),
                id=repr(facility_id),
            )
        if conn.execute(sa.select(t.users.c.id).where(t.users.c.username == username)).first():
            raise AccountError(
                QT_TRANSLATE_NOOP("HubCli", "user {name} already exists"), name=repr(username)
            )
        conn.execute(
            t.users.insert().values(
                id=user_id,
                username=username,
                display_name=display_name.strip() or username,
                role=role,
                facility_id=facility_id,
                department=department.strip(),
                title=title.strip()[:100],
                password_hash=password_hash,
                disabled=False,
                created_at=time.time(),
            )
        )
    return user_id


def set_password(db: Database, username: str, password: str) -> None:
    """Reset a password; the user's sessions end."""
    if len(password) < 8:
        raise AccountError(QT_TRANSLATE_NOOP("HubCli", "password must have at least 8 characters"))
    password_hash = hash_password(password)
    with db.write() as conn:
        uid = conn.execute(sa.select(t.users.c.id).where(t.users.c.username == username)).scalar()
        if uid is None:
            raise AccountError(QT_TRANSLATE_NOOP("HubCli", "no user {name}"), name=repr(username))
        conn.execute(
            t.users.update().where(t.users.c.id == uid).values(password_hash=password_hash)
        )
        revoke_user_sessions(conn, uid)


def set_disabled(db: Database, username: str, disabled: bool) -> None:
    """Disable (refused at once, sessions revoked) or re-enable a user."""
    with db.write() as conn:
        uid = conn.execute(sa.select(t.users.c.id).where(t.users.c.username == username)).scalar()
        if uid is None:
            raise AccountError(QT_TRANSLATE_NOOP("HubCli", "no user {name}"), name=repr(username))
        conn.execute(t.users.update().where(t.users.c.id == uid).values(disabled=disabled))
        if disabled:
            revoke_user_sessions(conn, uid)
