"""One writer per tus upload across every hub process: a lease row in ``upload_locks``.

tus 1.0 asks a server to refuse a second PATCH while one is being written; an in-process lock
cannot see the other hub processes behind the proxy, so the lease lives in the database. The
holder renews it while its request is alive; a lease of a crashed process lapses after
``LEASE_S`` and the next request takes over.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from fastapi.concurrency import run_in_threadpool

from hub import db as t
from hub.db import Database, insert_ignore

# Seconds; YIQIAO_UPLOAD_LEASE shortens it (tests kill hub processes mid-upload).
LEASE_S = float(os.environ.get("YIQIAO_UPLOAD_LEASE", "") or 30.0)


class UploadBusy(Exception):
    """Another request is writing this upload (answer 409)."""


@dataclass
class Lease:
    upload_id: str
    token: str
    lost: bool = False  # renewal found the lease taken over: stop writing at once


def _acquire(db: Database, upload_id: str, token: str) -> bool:
    now = time.time()
    with db.write() as conn:
        conn.execute(
            t.upload_locks.delete().where(
                t.upload_locks.c.upload_id == upload_id, t.upload_locks.c.expires_at < now
            )
        )
        return insert_ignore(
            conn,
            t.upload_locks,
            {"upload_id": upload_id, "token": token, "expires_at": now + LEASE_S},
        )


def _renew(db: Database, lease: Lease) -> bool:
    with db.write() as conn:
        result = conn.execute(
            t.upload_locks.update()
            .where(
                t.upload_locks.c.upload_id == lease.upload_id,
                t.upload_locks.c.token == lease.token,
            )
            .values(expires_at=time.time() + LEASE_S)
        )
        return result.rowcount == 1


def _release(db: Database, lease: Lease) -> None:
    with db.write() as conn:
        conn.execute(
            t.upload_locks.delete().where(
                t.upload_locks.c.upload_id == lease.upload_id,
                t.upload_locks.c.token == lease.token,
            )
        )


def busy(db: Database, upload_ids: Iterable[str]) -> set[str]:
    """Which of these uploads a request is writing right now."""
    ids = list(upload_ids)
    if not ids:
        return set()
    with db.read() as conn:
        return set(
            conn.execute(
                sa.select(t.upload_locks.c.upload_id).where(
                    t.upload_locks.c.upload_id.in_(ids),
                    t.upload_locks.c.expires_at >= time.time(),
                )
            ).scalars()
        )


async def wait_idle(db: Database, upload_ids: Iterable[str], within: float) -> None:
    """Wait (up to ``within`` seconds) until none of these uploads is being written: a
    client that lost its connection mid-chunk asks where to resume while the hub may not
    yet have noticed the drop."""
    ids = list(upload_ids)
    deadline = time.monotonic() + within
    while await run_in_threadpool(busy, db, ids) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


@asynccontextmanager
async def hold(db: Database, upload_id: str) -> AsyncIterator[Lease]:
    """Hold the upload's lease for the body of the ``async with``; UploadBusy if taken."""
    lease = Lease(upload_id, secrets.token_hex(16))
    if not await run_in_threadpool(_acquire, db, upload_id, lease.token):
        raise UploadBusy(upload_id)

    async def keep() -> None:
        while True:
            await asyncio.sleep(LEASE_S / 3)
            if not await run_in_threadpool(_renew, db, lease):
                lease.lost = True
                return

    keeper = asyncio.create_task(keep())
    try:
        yield lease
    finally:
        keeper.cancel()
        await run_in_threadpool(_release, db, lease)
