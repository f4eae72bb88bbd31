"""Missed calls, kept in the hub's database so a restart does not lose them.

A call that rang and was not answered (timeout, cancelled, nobody online) leaves one row per
person it rang. The rows not yet told are sent in the ``hello`` of that person's next
signaling connection and then marked delivered; they stay as history.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from app.protocol.signaling import MissedCall, PartyInfo
from hub.db import Database, missed_calls

UNDELIVERED_LIMIT = 50  # the newest ones; older unanswered rings are history only


class MissedCallStore:
    """Synchronous (call it off the event loop)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, entries: list[tuple[str, MissedCall]]) -> None:
        """Store (user id, missed call) pairs."""
        if not entries:
            return
        with self.db.write() as conn:
            conn.execute(
                missed_calls.insert(),
                [
                    {
                        "user_id": uid,
                        "call_id": m.call_id,
                        "consultation_id": m.consultation_id,
                        "caller_id": m.caller.id,
                        "caller_name": m.caller.display_name,
                        "caller_facility": m.caller.facility_name,
                        "at": m.at,
                    }
                    for uid, m in entries
                ],
            )

    def take(self, user_id: str) -> list[MissedCall]:
        """The user's undelivered missed calls, oldest first, now marked delivered."""
        with self.db.write() as conn:
            rows = (
                conn.execute(
                    sa.select(missed_calls)
                    .where(missed_calls.c.user_id == user_id, missed_calls.c.delivered_at.is_(None))
                    .order_by(missed_calls.c.at.desc(), missed_calls.c.id.desc())
                    .limit(UNDELIVERED_LIMIT)
                )
                .mappings()
                .all()
            )
            conn.execute(
                missed_calls.update()
                .where(missed_calls.c.user_id == user_id, missed_calls.c.delivered_at.is_(None))
                .values(delivered_at=time.time())
            )
        return [
            MissedCall(
                call_id=r["call_id"],
                consultation_id=r["consultation_id"],
                at=r["at"],
                caller=PartyInfo(
                    id=r["caller_id"],
                    display_name=r["caller_name"],
                    facility_name=r["caller_facility"],
                ),
            )
            for r in reversed(rows)
        ]
