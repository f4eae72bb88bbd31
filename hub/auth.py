"""Accounts and sessions: argon2 passwords, opaque access/refresh tokens, login throttling.

Tokens are random strings; the hub stores only their SHA-256 in ``sessions``. Every request
looks its access token up in the database, so logout and disabling a user take effect at
once on every hub process (the app processes hold no state of their own).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request
from sqlalchemy.engine import Connection

from app.protocol.auth import Role, TokenPair, UserInfo
from hub import audit, throttle
from hub import db as t
from hub.config import HubConfig
from hub.db import Database, insert_ignore
from hub.errors import HubError

_hasher = PasswordHasher()
_dummy_hash: list[str] = []


def _dummy() -> str:
    """A hash verified against when the username does not exist, so timing does not reveal
    which accounts exist (made on first use: hashing at import would slow every start)."""
    if not _dummy_hash:
        _dummy_hash.append(_hasher.hash("not-a-real-password"))
    return _dummy_hash[0]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user_info(row: sa.Row) -> UserInfo:
    return UserInfo(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        facility_id=row.facility_id,
        facility_name=row.facility_name,
        department=row.department,
        title=row.title,
    )


def _user_query() -> sa.Select:
    return sa.select(
        t.users.c.id,
        t.users.c.username,
        t.users.c.display_name,
        t.users.c.role,
        t.users.c.facility_id,
        t.users.c.department,
        t.users.c.title,
        t.users.c.disabled,
        t.users.c.password_hash,
        t.facilities.c.name.label("facility_name"),
    ).join(t.facilities, t.facilities.c.id == t.users.c.facility_id)


def load_user(conn: Connection, user_id: str) -> UserInfo | None:
    """The enabled user with this id, or None."""
    row = conn.execute(_user_query().where(t.users.c.id == user_id)).first()
    if row is None or row.disabled:
        return None
    return _user_info(row)


def user_from_token(db: Database, token: str) -> UserInfo | None:
    """The signed-in user an access token belongs to, or None if unknown/expired/revoked/disabled.

    Stable API for other hub modules (e.g. the WebSocket signaling handler):
    ``user_from_token(websocket.app.state.hub.db, token)``.
    """
    if not token or len(token) > 512:
        return None
    with db.read() as conn:
        row = conn.execute(
            _user_query()
            .join(t.sessions, t.sessions.c.user_id == t.users.c.id)
            .where(
                t.sessions.c.access_hash == _token_hash(token),
                t.sessions.c.revoked == sa.false(),
                t.sessions.c.access_expires > time.time(),
            )
        ).first()
    if row is None or row.disabled:
        return None
    return _user_info(row)


def _new_tokens(config: HubConfig) -> tuple[str, str, dict]:
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    now = config.clock()
    values = {
        "access_hash": _token_hash(access),
        "access_expires": now + config.access_token_ttl,
        "refresh_hash": _token_hash(refresh),
        "refresh_expires": now + config.refresh_token_ttl,
    }
    return access, refresh, values


def login(
    db: Database, config: HubConfig, username: str, password: str, device: str, ip: str
) -> TokenPair:
    """Check the password (throttled: hub/throttle.py) and open a session."""
    keys = throttle.keys_for(config, username, ip)
    wait = throttle.reserve(db, config, keys)
    if wait > 0:
        with db.write() as conn:
            audit.record_account(conn, "", username, ip, "login_throttled", f"wait {wait:.0f} s")
        raise HubError(
            429,
            "too_many_attempts",
            f"too many sign-in attempts; try again in {math.ceil(wait)} s",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    with db.read() as conn:
        row = conn.execute(_user_query().where(t.users.c.username == username)).first()
    # Hash verification is slow on purpose: do it outside any write transaction.
    ok = verify_password(row.password_hash if row else _dummy(), password) and row is not None
    if not ok or row is None:
        with db.write() as conn:
            audit.record_account(conn, row.id if row else "", username, ip, "login_failed")
        raise HubError(401, "invalid_credentials", "wrong username or password")
    if row.disabled:
        raise HubError(
            403, "account_disabled", "this account has been disabled by an administrator"
        )
    throttle.succeeded(db, keys)
    access, refresh, values = _new_tokens(config)
    with db.write() as conn:
        conn.execute(
            t.sessions.insert().values(
                id=secrets.token_hex(16),
                user_id=row.id,
                device_name=device[:128],
                ip=ip[:64],
                created_at=config.clock(),
                revoked=False,
                **values,
            )
        )
        audit.record(conn, _user_info(row), ip, "login", detail=device[:128])
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=config.access_token_ttl,
        user=_user_info(row),
    )


def refresh(db: Database, config: HubConfig, refresh_token: str, ip: str = "") -> TokenPair:
    """Rotate a session's tokens; the old refresh token stops working, and presenting a spent
    one again ends the whole session (someone holds a copy). A session lives at most
    ``config.session_max_life`` however often it is refreshed."""
    access, new_refresh, values = _new_tokens(config)
    now = config.clock()
    presented = _token_hash(refresh_token)
    with db.write() as conn:
        sess = conn.execute(
            sa.select(t.sessions).where(t.sessions.c.refresh_hash == presented)
        ).first()
        replayed = None
        if sess is None:
            replayed = conn.execute(
                sa.select(t.spent_refresh_tokens.c.session_id).where(
                    t.spent_refresh_tokens.c.refresh_hash == presented
                )
            ).scalar()
            if replayed is not None:
                conn.execute(
                    t.sessions.update().where(t.sessions.c.id == replayed).values(revoked=True)
                )
                owner = conn.execute(
                    sa.select(t.sessions.c.user_id).where(t.sessions.c.id == replayed)
                ).scalar()
                audit.record_account(
                    conn, owner or "", "", ip, "refresh_replayed", "session revoked"
                )
        ok = sess is not None and not sess.revoked and sess.refresh_expires >= now
        user = load_user(conn, sess.user_id) if ok and sess is not None else None
        if ok and sess is not None and user is not None:
            values["refresh_expires"] = min(
                values["refresh_expires"], sess.created_at + config.session_max_life
            )
            values["access_expires"] = min(values["access_expires"], values["refresh_expires"])
            conn.execute(t.sessions.update().where(t.sessions.c.id == sess.id).values(**values))
            insert_ignore(
                conn,
                t.spent_refresh_tokens,
                {"refresh_hash": presented, "session_id": sess.id, "spent_at": now},
            )
            audit.record(conn, user, ip, "refresh")
    if not ok:
        raise HubError(
            401,
            "invalid_refresh_token",
            "the refresh token is unknown, expired or revoked; sign in again",
        )
    if user is None:
        raise HubError(
            403, "account_disabled", "this account has been disabled by an administrator"
        )
    return TokenPair(
        access_token=access,
        refresh_token=new_refresh,
        expires_in=int(min(config.access_token_ttl, max(0, values["access_expires"] - now))),
        user=user,
    )


def logout(db: Database, access_token: str, user: UserInfo | None = None, ip: str = "") -> None:
    """Revoke the session of this access token (its refresh token dies with it)."""
    with db.write() as conn:
        conn.execute(
            t.sessions.update()
            .where(t.sessions.c.access_hash == _token_hash(access_token))
            .values(revoked=True)
        )
        if user is not None:
            audit.record(conn, user, ip, "logout")


def revoke_user_sessions(conn: Connection, user_id: str) -> None:
    conn.execute(t.sessions.update().where(t.sessions.c.user_id == user_id).values(revoked=True))


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HubError(
            401,
            "not_authenticated",
            "sign in first: send 'Authorization: Bearer <access token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def current_user(request: Request) -> UserInfo:
    """FastAPI dependency: the signed-in user, or 401."""
    token = bearer_token(request)
    checked = getattr(request.state, "edge_user", None)  # hub.edge checked it before the body
    if checked is not None and checked[0] == token:
        request.state.user = checked[1]
        return checked[1]
    user = user_from_token(request.app.state.hub.db, token)
    if user is None:
        raise HubError(
            401,
            "invalid_token",
            "the access token is unknown, expired or revoked; refresh or sign in again",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.user = user
    return user
