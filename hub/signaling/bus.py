"""Fan-out of signaling events to every hub process.

A WebSocket may land on any hub process, so a message for a user is published once and
every process delivers it to the sockets it holds. Two buses, one interface:

- ``LocalBus`` (SQLite: one process) hands events straight back to this process, in order.
- ``PgBus`` (PostgreSQL) uses LISTEN/NOTIFY on channel ``yiqiao_signal``: one connection per
  process listens, one publishes (serialised, so one process's events arrive everywhere in
  the order it sent them; every process, the sender included, delivers what it hears, so a
  user's sockets see one order whatever process they are on). Every event is also written to
  ``sig_payloads`` (kept ``RETAIN_S``) in the same statement that sends the NOTIFY, whose
  payload is ``<row id>:<event>`` — or ``<row id>:`` alone when the event is too big for
  NOTIFY's 8,000 bytes (an SDP offer can be ~10 kB): listeners then read the row.
  NOTIFY is not queued for a listener that is not connected: when this process's LISTEN
  connection drops (database restart, a killed backend, a network cut) and comes back, it
  re-reads every event written since it first listened that it has not heard (by row id) and
  delivers those, in order, before the live ones, so a ring or an accept is late, never
  lost. LISTEN needs a session-pooled or direct connection (it does not pass through
  pgbouncer's transaction pooling); see docs/hub.md.

Events are JSON objects; ``hub.signaling.calls.Switchboard.deliver`` interprets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import sqlalchemy as sa

from hub.db import Database, sig_payloads

log = logging.getLogger(__name__)

CHANNEL = "yiqiao_signal"
NOTIFY_LIMIT = 7900  # bytes; PostgreSQL refuses payloads of 8000 bytes and more
RETAIN_S = 300.0  # events stay in the log this long for a reconnecting listener
Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Bus(Protocol):
    async def start(self, handler: Handler) -> None: ...
    async def publish(self, event: dict[str, Any]) -> None: ...
    async def stop(self) -> None: ...


class LocalBus:
    """One process: events go straight to the handler, in publish order."""

    def __init__(self) -> None:
        self._handler: Handler | None = None
        self.published = 0

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def publish(self, event: dict[str, Any]) -> None:
        self.published += 1
        if self._handler is not None:
            await self._handler(event)

    async def stop(self) -> None:
        self._handler = None


def _libpq_dsn(db: Database) -> str:
    """The SQLAlchemy URL as a libpq connection string for psycopg."""
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgBus:
    """PostgreSQL LISTEN/NOTIFY over an event log (``sig_payloads``) that a reconnecting
    listener catches up from."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._dsn = _libpq_dsn(db)
        self._handler: Handler | None = None
        self._listener: asyncio.Task[None] | None = None
        self._pub: Any = None  # psycopg.AsyncConnection
        self._pub_lock = asyncio.Lock()
        self._listening = asyncio.Event()
        self._since: float | None = None  # database time of our first LISTEN
        self._seen: dict[int, float] = {}  # event row id → when heard (monotonic)
        self.published = 0
        self.reconnects = 0  # listener reconnections
        self.replayed = 0  # events recovered from the log after a reconnection

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def _connect(self, role: str, **options: str):  # noqa: ANN202
        import psycopg

        extra: dict[str, Any] = (
            {"options": " ".join(f"-c {k}={v}" for k, v in options.items())} if options else {}
        )
        # Keepalives: a silently dead link to the database is noticed in about 25 s, and the
        # listener reconnects and catches up instead of hearing nothing for ever.
        return await psycopg.AsyncConnection.connect(
            self._dsn,
            autocommit=True,
            connect_timeout=5,
            application_name=f"yiqiao-{role}:{os.getpid()}",
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            **extra,
        )

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            conn = None
            try:
                conn = await self._connect("listen")
                await conn.execute(f"LISTEN {CHANNEL}")
                cur = await conn.execute("SELECT extract(epoch from clock_timestamp())::float8")
                now = float((await cur.fetchone())[0])
                if self._since is None:
                    self._since = now  # older events were for sockets this process never had
                else:
                    self.reconnects += 1
                    missed = await self._catch_up(conn, now)
                    log.warning("signaling bus: listener reconnected; %d missed events", missed)
                self._listening.set()
                delay = 0.2
                async for note in conn.notifies():
                    await self._dispatch(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database restart, network: retry
                log.warning("signaling bus: listener lost (%s); reconnecting", exc)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)

    async def _catch_up(self, conn: Any, now: float) -> int:
        """Deliver the logged events this process has not heard (LISTEN is already on again,
        so whatever is committed later arrives as a notification; those are de-duplicated)."""
        since = max(self._since or now, now - RETAIN_S)
        cur = await conn.execute(
            "SELECT id, body FROM sig_payloads WHERE created_at >= %s ORDER BY id", (since,)
        )
        missed = 0
        for row_id, body in await cur.fetchall():
            if self._first_time(int(row_id)):
                missed += 1
                self.replayed += 1
                await self._deliver(body)
        return missed

    def _first_time(self, row_id: int) -> bool:
        if row_id in self._seen:
            return False
        now = time.monotonic()
        self._seen[row_id] = now
        if len(self._seen) % 1024 == 0:  # forget what has left the log (ids heard in order)
            horizon = now - RETAIN_S - 120
            for old in [k for k, t in self._seen.items() if t < horizon]:
                del self._seen[old]
        return True

    async def _dispatch(self, payload: str) -> None:
        head, _, body = payload.partition(":")
        try:
            row_id = int(head)
        except ValueError:
            log.warning("signaling bus: unreadable notification %.40r", payload)
            return
        if not self._first_time(row_id):
            return  # already delivered by a catch-up
        if not body:
            try:
                found = await asyncio.to_thread(self._read_payload, row_id)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("signaling bus: cannot read event %s (%s)", row_id, exc)
                return
            if found is None:
                log.warning("signaling bus: event %s already purged", row_id)
                return
            body = found
        await self._deliver(body)

    async def _deliver(self, body: str) -> None:
        try:
            event = json.loads(body)
        except ValueError as exc:
            log.warning("signaling bus: unreadable event (%s)", exc)
            return
        if self._handler is not None:
            try:
                await self._handler(event)
            except Exception:  # noqa: BLE001 - one bad event must not stop the listener
                log.exception("signaling bus: handler failed")

    def _read_payload(self, row_id: int) -> str | None:
        with self.db.read() as conn:
            return conn.execute(
                sa.select(sig_payloads.c.body).where(sig_payloads.c.id == row_id)
            ).scalar()

    async def publish(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        inline = body if len(body.encode()) <= NOTIFY_LIMIT - 24 else ""
        async with self._pub_lock:
            for attempt in (1, 2):
                try:
                    if self._pub is None or self._pub.closed:
                        # The log is for catch-up within minutes, not for surviving a
                        # database crash: no need to wait for each event's WAL flush.
                        self._pub = await self._connect("publish", synchronous_commit="off")
                    await self._pub.execute(_PUBLISH, (body, CHANNEL, inline))
                    self.published += 1
                    return
                except Exception as exc:  # noqa: BLE001 - reconnect once, then give up loudly
                    with contextlib.suppress(Exception):
                        await self._pub.close()
                    self._pub = None
                    if attempt == 2:
                        log.error("signaling bus: publish failed (%s); event dropped", exc)

    async def stop(self) -> None:
        self._handler = None
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._pub is not None:
            with contextlib.suppress(Exception):
                await self._pub.close()


# One statement, so the event is in the log exactly when its notification is sent (both at
# commit) and a publish is one round trip.
_PUBLISH = (
    "WITH e AS (INSERT INTO sig_payloads (body, created_at) "
    "VALUES (%s, extract(epoch from clock_timestamp())) RETURNING id) "
    "SELECT pg_notify(%s, e.id || ':' || %s) FROM e"
)


def purge_payloads(db: Database, older_than_s: float = RETAIN_S) -> None:
    """Drop logged events older than any catch-up reads."""
    with db.write() as conn:
        conn.execute(
            sig_payloads.delete().where(sig_payloads.c.created_at < time.time() - older_than_s)
        )


def make_bus(db: Database) -> Bus:
    """The bus for this database: NOTIFY on PostgreSQL, in-process on SQLite."""
    return LocalBus() if db.is_sqlite else PgBus(db)
