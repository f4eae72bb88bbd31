"""Sync hints: after a push, tell the connected people who can see the changed records to
pull now (``sync.hint`` on the signaling WebSocket). A hint carries no data and may be lost;
clients keep their periodic pull as the fallback.

``publish_after_push`` is called from the push route's worker thread and never blocks it:
the sends are scheduled on the signaling event loop. The audience is broad on purpose (every
connected user of the facilities involved): a needless hint costs one empty pull.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa

from app.protocol import signaling as sig
from app.protocol.auth import UserInfo
from app.protocol.sync import PushResult, PushStatus
from hub import db as t
from hub.db import Database

log = logging.getLogger(__name__)


def audience(db: Database, results: list[PushResult]) -> tuple[set[str], set[str], int]:
    """(facility ids, user ids, highest seq) of whoever may see the stored changes."""
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
    if consultations or patients:
        c = t.consultations.c
        with db.read() as conn:
            rows = conn.execute(
                sa.select(c.requesting_facility_id, c.target_facility_id, c.specialist_id).where(
                    sa.or_(c.id.in_(consultations), c.patient_id.in_(patients)),
                    c.status != "draft",
                )
            ).all()
        for row in rows:
            facilities.update(f for f in (row.requesting_facility_id, row.target_facility_id) if f)
            if row.specialist_id:
                users.add(row.specialist_id)
    return facilities, users, top


def publish_after_push(app_state: Any, pusher: UserInfo, results: list[PushResult]) -> None:
    """Schedule ``sync.hint`` to the connected audience of ``results`` (not the pusher)."""
    board = getattr(app_state, "switchboard", None)
    loop: asyncio.AbstractEventLoop | None = getattr(app_state, "signaling_loop", None)
    if board is None or loop is None or loop.is_closed() or not board.connections:
        return
    facilities, users, top = audience(app_state.hub.db, results)
    if not facilities and not users:
        return
    message = sig.SyncHint(seq=top)

    async def send() -> None:
        for conns in list(board.connections.values()):
            for conn in list(conns):
                u = conn.user
                if u.id != pusher.id and (u.facility_id in facilities or u.id in users):
                    await conn.send(message)

    try:
        asyncio.run_coroutine_threadsafe(send(), loop)
    except RuntimeError:  # the loop is shutting down
        log.debug("sync hint dropped: signaling loop closed")
