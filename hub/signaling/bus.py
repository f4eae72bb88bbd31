"""Fan-out of signaling events to every hub process.

A WebSocket may land on any hub process, so a message for a user is published once and
every process delivers it to the sockets it holds. Two buses, one interface:

- ``LocalBus`` (SQLite: one process) hands events straight back to this process, in order.
- ``PgBus`` (PostgreSQL) uses LISTEN/NOTIFY on channel ``yiqiao_signal``: one connection per
  process listens, one publishes (serialised, so one process's events arrive everywhere in
  the order it sent them; every process, the sender included, delivers what it hears, so a
  user's sockets see one order whatever process they are on). A NOTIFY payload is limited to
  8,000 bytes: a bigger event (an SDP offer can be ~10 kB) is stored in ``sig_payloads`` and
  the notification carries ``@<row id>``; listeners read the row (committed before the
  NOTIFY is sent). LISTEN needs a session-pooled or direct connection (it does not pass
  through pgbouncer's transaction pooling); see docs/hub.md.

Events are JSON objects; ``hub.signaling.calls.Switchboard.deliver`` interprets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import sqlalchemy as sa

from hub.db import Database, sig_payloads

log = logging.getLogger(__name__)

CHANNEL = "yiqiao_signal"
NOTIFY_LIMIT = 7900  # bytes; PostgreSQL refuses payloads of 8000 bytes and more
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
    """PostgreSQL LISTEN/NOTIFY, with oversized events stored in ``sig_payloads``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._dsn = _libpq_dsn(db)
        self._handler: Handler | None = None
        self._listener: asyncio.Task[None] | None = None
        self._pub: Any = None  # psycopg.AsyncConnection
        self._pub_lock = asyncio.Lock()
        self._listening = asyncio.Event()
        self.published = 0
        self.reconnects = 0  # listener reconnections (events sent meanwhile were missed)

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def _connect(self):  # noqa: ANN202
        import psycopg

        return await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, connect_timeout=5)

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            conn = None
            try:
                conn = await self._connect()
                await conn.execute(f"LISTEN {CHANNEL}")
                if self._listening.is_set():
                    self.reconnects += 1
                    log.warning("signaling bus: listener reconnected; events meanwhile missed")
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

    async def _dispatch(self, payload: str) -> None:
        try:
            if payload.startswith("@"):
                body = await asyncio.to_thread(self._read_payload, int(payload[1:]))
                if body is None:
                    log.warning("signaling bus: payload %s already purged", payload)
                    return
                payload = body
            event = json.loads(payload)
        except (ValueError, sa.exc.SQLAlchemyError) as exc:
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

    def _store_payload(self, body: str) -> int:
        with self.db.write() as conn:
            return int(
                conn.execute(
                    sig_payloads.insert()
                    .values(body=body, created_at=time.time())
                    .returning(sig_payloads.c.id)
                ).scalar_one()
            )

    async def publish(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        async with self._pub_lock:
            if len(body.encode()) > NOTIFY_LIMIT:
                body = f"@{await asyncio.to_thread(self._store_payload, body)}"
            for attempt in (1, 2):
                try:
                    if self._pub is None or self._pub.closed:
                        self._pub = await self._connect()
                    await self._pub.execute("SELECT pg_notify(%s, %s)", (CHANNEL, body))
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


def purge_payloads(db: Database, older_than_s: float = 300.0) -> None:
    """Drop stored oversized events every process has long since read."""
    with db.write() as conn:
        conn.execute(
            sig_payloads.delete().where(sig_payloads.c.created_at < time.time() - older_than_s)
        )


def make_bus(db: Database) -> Bus:
    """The bus for this database: NOTIFY on PostgreSQL, in-process on SQLite."""
    return LocalBus() if db.is_sqlite else PgBus(db)
