"""Sync hints: after a push, tell the connected people who can see the changed records to
pull now (``sync.hint`` on the signaling WebSocket). A hint carries no data and may be lost;
clients keep their periodic pull as the fallback.

``publish_after_push`` is called from the push route's worker thread and never blocks it:
the audience is read from the database there, the send is scheduled on the event loop and
goes through the switchboard's bus, so it reaches sockets held by any hub process. The
audience is broad on purpose (every online user of the facilities involved, and a named
specialist): a needless hint costs one empty pull.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio.from_thread
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool

from app.protocol import signaling as sig
from app.protocol.auth import UserInfo
from app.protocol.sync import PushResult, PushStatus
from hub import db as t
from hub.db import Database

log = logging.getLogger(__name__)
_pending: set[asyncio.Task[None]] = set()


def audience(db: Database, results: list[PushResult]) -> tuple[set[str], int]:
    """(user ids, highest seq) of whoever may see the stored changes."""
    facilities: set[str] = set()
    users: set[str] = set()
    patients: set[str] = set()
    consultations: set[str] = set()
    top = 0
    for r in results:
        doc = r.document
        if r.status == PushStatus.rejected or doc is None:
            continue
        top = max(top, r.seq or 0)
        facilities.add(doc.facility_id)
        if doc.consultation_id is not None:
            consultations.add(str(doc.consultation_id))
        elif doc.type == "consultation":
            consultations.add(str(doc.id))
        elif doc.patient_id is not None:
            patients.add(str(doc.patient_id))
    if not facilities:
        return set(), top
    with db.read() as conn:
        if consultations or patients:
            c = t.consultations.c
            rows = conn.execute(
                sa.select(c.requesting_facility_id, c.target_facility_id, c.specialist_id).where(
                    sa.or_(c.id.in_(consultations), c.patient_id.in_(patients)),
                    c.status != "draft",
                )
            ).all()
            for row in rows:
                facilities.update(
                    f for f in (row.requesting_facility_id, row.target_facility_id) if f
                )
                if row.specialist_id:
                    users.add(row.specialist_id)
        users.update(
            conn.execute(
                sa.select(t.users.c.id).where(
                    t.users.c.facility_id.in_(facilities), t.users.c.disabled == sa.false()
                )
            ).scalars()
        )
    return users, top


def publish_after_push(app: Any, pusher: UserInfo, results: list[PushResult]) -> None:
    """Schedule ``sync.hint`` to the online audience of ``results`` (not the pusher)."""
    users, top = audience(app.state.hub.db, results)
    users.discard(pusher.id)
    if not users:
        return

    async def send() -> None:
        from hub.signaling.ws import switchboard

        board = switchboard(app)
        await board.ensure_started()
        online = await run_in_threadpool(board.store.online, sorted(users), board.clock(), True)
        await board.send_users(online, sig.SyncHint(seq=top))

    def schedule() -> None:
        task = asyncio.get_running_loop().create_task(send())
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    try:
        anyio.from_thread.run_sync(schedule)
    except RuntimeError:  # not called from a worker thread of the app's loop (e.g. a script)
        log.debug("sync hint skipped: no event loop to send it from")
