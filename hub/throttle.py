"""Sign-in throttling counted in the database, so every hub process shares one count.

Each attempt *reserves* its turn before the password is checked (one transaction per key,
row-locked), so sixty concurrent guesses get ``free`` password checks, not sixty. Past the
free attempts a key only slows down: each further attempt must wait a delay that doubles up
to a short cap and never becomes a long lockout — a stranger who types a doctor's username
wrong on purpose can delay that doctor by at most ``login_max_delay`` seconds, not lock them
out. Two keys are counted:

- the account (``acct:<username>``, whether or not it exists: the answer must not tell);
- the client address (``addr:<ip>``), with a far higher allowance, because a township clinic
  puts all its PCs behind one NAT address. Successful sign-ins give their turn back.

The address is the TCP peer, or what a *configured* proxy says (hub.state.client_ip).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db as t
from hub.config import HubConfig
from hub.db import Database, insert_ignore


@dataclass(frozen=True)
class Key:
    name: str
    free: int  # attempts per window before the delays start


def keys_for(config: HubConfig, username: str, ip: str) -> list[Key]:
    return [
        Key(f"acct:{username.strip().lower()[:200]}", config.login_max_failures),
        Key(f"addr:{ip[:64]}", config.login_max_failures_per_address),
    ]


def _delay(config: HubConfig, over: int) -> float:
    """Seconds to wait after the ``over``-th attempt past the free ones (1, 2, 4 … cap)."""
    return float(min(config.login_max_delay, 2 ** min(over, 20)))


def _reserve_one(conn: Connection, config: HubConfig, key: Key, now: float) -> float:
    """Count one attempt on ``key``; returns 0 if it may proceed, else seconds to wait."""
    f = t.login_failures.c
    insert_ignore(
        conn,
        t.login_failures,
        {"key": key.name, "count": 0, "window_start": now, "locked_until": 0},
    )
    row = conn.execute(sa.select(t.login_failures).where(f.key == key.name).with_for_update()).one()
    count, start = int(row._mapping["count"]), float(row.window_start)
    if now - start > config.login_window:
        count, start = 0, now
    if count >= key.free and now < row.locked_until:
        return row.locked_until - now
    count += 1
    until = now + _delay(config, count - key.free) if count >= key.free else 0.0
    conn.execute(
        t.login_failures.update()
        .where(f.key == key.name)
        .values(count=count, window_start=start, locked_until=until)
    )
    return 0.0


def reserve(db: Database, config: HubConfig, keys: list[Key]) -> float:
    """Reserve an attempt on every key (all or none); 0 = go ahead, else seconds to wait."""
    now = config.clock()
    try:
        with db.write() as conn:
            for key in keys:
                wait = _reserve_one(conn, config, key, now)
                if wait > 0:
                    raise _Refused(wait)  # rolls back: a refused attempt counts on no key
    except _Refused as refused:
        return refused.wait
    return 0.0


class _Refused(Exception):
    def __init__(self, wait: float) -> None:
        self.wait = wait


def succeeded(db: Database, keys: list[Key]) -> None:
    """A right password: the account starts afresh, the address gets its turn back."""
    f = t.login_failures.c
    acct, addr = keys
    with db.write() as conn:
        conn.execute(t.login_failures.delete().where(f.key == acct.name))
        conn.execute(
            t.login_failures.update()
            .where(f.key == addr.name, f.count > 0)
            .values(count=f.count - 1)
        )
