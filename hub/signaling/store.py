"""Signaling state in the hub's database, shared by every hub process.

Tables (migration 30 in ``hub.db``): ``sig_processes`` (one row per running hub process,
with a heartbeat), ``sig_connections`` (every open signaling WebSocket and the process that
holds it: presence), ``sig_calls`` (ringing, active and recently ended calls, with the ring
deadline), ``sig_gone`` (a participant whose every socket is gone, and when the call ends
for that). Every state change is one conditional UPDATE/DELETE, so two processes racing on
the same call (two callees accepting, a ring timeout against an accept, two survivors firing
the same timer) have exactly one winner.

Synchronous: call from a worker thread, never on the event loop.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.protocol.auth import UserInfo
from hub import audit
from hub.db import Database, sessions, sig_calls, sig_connections, sig_gone, sig_processes, users

RINGING, ACTIVE, ENDED = "ringing", "active", "ended"


# What a socket is for (sig_connections.purpose): the app's call socket, or a sync-hints
# socket (?purpose=sync), which can neither ring nor answer.
CALL_SOCKET, SYNC_SOCKET = "call", "sync"


@dataclass
class CallRecord:
    """One row of ``sig_calls``."""

    call_id: str
    consultation_id: str
    caller: UserInfo
    caller_conn: str
    rung: list[UserInfo]
    phase: str
    callee: UserInfo | None
    test: bool
    started: float
    end_reason: str = ""

    def party_ids(self) -> set[str]:
        ids = {self.caller.id}
        if self.callee is not None:
            ids.add(self.callee.id)
        else:
            ids.update(u.id for u in self.rung)
        return ids

    @classmethod
    def from_row(cls, row: Any) -> CallRecord:
        return cls(
            call_id=row.call_id,
            consultation_id=row.consultation_id,
            caller=UserInfo.model_validate(row.caller),
            caller_conn=row.caller_conn,
            rung=[UserInfo.model_validate(u) for u in row.rung],
            phase=row.phase,
            callee=UserInfo.model_validate(row.callee) if row.callee else None,
            test=bool(row.test),
            started=row.started,
            end_reason=row.end_reason,
        )


class SignalStore:
    """Reads and conditional writes of the signaling tables."""

    def __init__(self, db: Database, dead_after_s: float = 20.0) -> None:
        self.db = db
        self.dead_after_s = dead_after_s

    # ---- processes ---------------------------------------------------------------------

    def register_process(self, process_id: str, now: float) -> None:
        with self.db.write() as conn:
            if self.db.is_sqlite:
                # One process per SQLite file: whatever an earlier run left is stale.
                conn.execute(sig_connections.delete())
                conn.execute(sig_processes.delete())
            conn.execute(
                sig_processes.insert().values(
                    id=process_id,
                    host=socket.gethostname()[:200],
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                )
            )

    def heartbeat(self, process_id: str, now: float) -> bool:
        """Refresh this process's heartbeat; False if survivors already declared it dead
        (its connections are gone from the table: the caller must close its sockets)."""
        with self.db.write() as conn:
            n = conn.execute(
                sig_processes.update()
                .where(sig_processes.c.id == process_id)
                .values(heartbeat_at=now)
            ).rowcount
        return n == 1

    def claim_dead_processes(self, now: float) -> dict[str, list[tuple[str, str]]]:
        """Remove processes whose heartbeat stopped; returns {process: [(conn id, user id)]}
        of the connections they held (exactly one survivor gets each dead process)."""
        out: dict[str, list[tuple[str, str]]] = {}
        with self.db.write() as conn:
            dead = (
                conn.execute(
                    sa.select(sig_processes.c.id).where(
                        sig_processes.c.heartbeat_at < now - self.dead_after_s
                    )
                )
                .scalars()
                .all()
            )
            for pid in dead:
                if not conn.execute(
                    sig_processes.delete().where(sig_processes.c.id == pid)
                ).rowcount:
                    continue  # another survivor took it
                rows = conn.execute(
                    sa.select(sig_connections.c.id, sig_connections.c.user_id).where(
                        sig_connections.c.process_id == pid
                    )
                ).all()
                conn.execute(sig_connections.delete().where(sig_connections.c.process_id == pid))
                out[pid] = [(r.id, r.user_id) for r in rows]
        return out

    def unregister_process(self, process_id: str) -> list[tuple[str, str]]:
        """A clean shutdown: drop this process and its connections."""
        with self.db.write() as conn:
            rows = conn.execute(
                sa.select(sig_connections.c.id, sig_connections.c.user_id).where(
                    sig_connections.c.process_id == process_id
                )
            ).all()
            conn.execute(sig_connections.delete().where(sig_connections.c.process_id == process_id))
            conn.execute(sig_processes.delete().where(sig_processes.c.id == process_id))
        return [(r.id, r.user_id) for r in rows]

    # ---- connections (presence) --------------------------------------------------------

    def add_connection(
        self,
        conn_id: str,
        user_id: str,
        process_id: str,
        session_hash: str,
        now: float,
        purpose: str = CALL_SOCKET,
    ) -> None:
        """Record a socket; a call socket also stops the user's "gone" timers (back in time)."""
        with self.db.write() as conn:
            conn.execute(sig_connections.delete().where(sig_connections.c.id == conn_id))
            conn.execute(
                sig_connections.insert().values(
                    id=conn_id,
                    user_id=user_id,
                    process_id=process_id,
                    session_hash=session_hash,
                    connected_at=now,
                    purpose=purpose,
                )
            )
            if purpose == CALL_SOCKET:
                conn.execute(sig_gone.delete().where(sig_gone.c.user_id == user_id))

    def remove_connection(self, conn_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(sig_connections.delete().where(sig_connections.c.id == conn_id))

    def online(self, user_ids: list[str], now: float, sync_too: bool = False) -> set[str]:
        """Which of ``user_ids`` have a call socket open on some hub process (a sync-hints
        socket alone cannot ring, so it does not count). A crashed process's
        sockets count until a survivor claims it (``dead_after_s``); a process that is only
        slow keeps its users online (its heartbeat is not consulted here). ``sync_too``: any
        socket counts (who can be sent a sync hint)."""
        if not user_ids:
            return set()
        query = sa.select(sig_connections.c.user_id).where(sig_connections.c.user_id.in_(user_ids))
        if not sync_too:
            query = query.where(sig_connections.c.purpose == CALL_SOCKET)
        with self.db.read() as conn:
            return set(conn.execute(query.distinct()).scalars())

    def ended_sessions(self, session_hashes: list[str], now: float) -> set[str]:
        """Which of these access-token hashes no longer sign anyone in (logged out, revoked,
        expired, user disabled) — the sockets opened with them must close."""
        if not session_hashes:
            return set()
        with self.db.read() as conn:
            live = set(
                conn.execute(
                    sa.select(sessions.c.access_hash)
                    .join(users, users.c.id == sessions.c.user_id)
                    .where(
                        sessions.c.access_hash.in_(session_hashes),
                        sessions.c.revoked == sa.false(),
                        sessions.c.access_expires > now,
                        users.c.disabled == sa.false(),
                    )
                ).scalars()
            )
        return set(session_hashes) - live

    # ---- calls -------------------------------------------------------------------------

    def create_call(self, call: CallRecord, ring_deadline: float | None) -> bool:
        """Insert a call; False if the id is taken."""
        try:
            with self.db.write() as conn:
                if conn.execute(
                    sa.select(sig_calls.c.call_id).where(sig_calls.c.call_id == call.call_id)
                ).first():
                    return False
                conn.execute(
                    sig_calls.insert().values(
                        call_id=call.call_id,
                        consultation_id=call.consultation_id,
                        caller_id=call.caller.id,
                        caller=call.caller.model_dump(mode="json"),
                        caller_conn=call.caller_conn,
                        rung=[u.model_dump(mode="json") for u in call.rung],
                        phase=call.phase,
                        callee_id=call.callee.id if call.callee else None,
                        callee=call.callee.model_dump(mode="json") if call.callee else None,
                        test=call.test,
                        started=call.started,
                        ring_deadline=ring_deadline,
                    )
                )
                audit.record(
                    conn,
                    call.caller,
                    "",
                    "call_started",
                    doc_id=call.consultation_id or None,
                    detail=f"{'test call' if call.test else 'call'} {call.call_id}",
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def get_call(self, call_id: str) -> CallRecord | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(sig_calls).where(sig_calls.c.call_id == call_id)).first()
        return CallRecord.from_row(row) if row is not None else None

    def busy(self, user_ids: list[str]) -> set[str]:
        """Which of ``user_ids`` are in a live call (ringing as caller, or active)."""
        if not user_ids:
            return set()
        with self.db.read() as conn:
            callers = conn.execute(
                sa.select(sig_calls.c.caller_id).where(
                    sig_calls.c.caller_id.in_(user_ids),
                    sig_calls.c.phase != ENDED,
                    sig_calls.c.test == sa.false(),
                )
            ).scalars()
            callees = conn.execute(
                sa.select(sig_calls.c.callee_id).where(
                    sig_calls.c.callee_id.in_(user_ids), sig_calls.c.phase == ACTIVE
                )
            ).scalars()
            return set(callers) | set(callees)

    def live_calls_of(self, user_id: str) -> list[CallRecord]:
        """Calls not ended in which ``user_id`` is caller, callee or still rung."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(sig_calls).where(sig_calls.c.phase != ENDED)).all()
        calls = [CallRecord.from_row(r) for r in rows]
        return [c for c in calls if user_id in c.party_ids()]

    def test_calls_since(self, user_id: str, since: float) -> tuple[int, int]:
        """(live test calls, test calls started since ``since``) of ``user_id``."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(sig_calls.c.phase, sig_calls.c.started).where(
                    sig_calls.c.caller_id == user_id, sig_calls.c.test == sa.true()
                )
            ).all()
        return sum(r.phase != ENDED for r in rows), sum(r.started >= since for r in rows)

    def _ringing_row(self, conn: sa.Connection, call_id: str) -> Any:
        """The call's row, locked until this transaction ends (PostgreSQL; SQLite's writer
        is one process already), or None unless it is ringing."""
        return conn.execute(
            sa.select(sig_calls)
            .where(sig_calls.c.call_id == call_id, sig_calls.c.phase == RINGING)
            .with_for_update()
        ).first()

    def accept(self, call_id: str, callee: UserInfo) -> bool:
        """Ringing → active for ``callee``; False if it stopped ringing (accepted elsewhere,
        declined, cancelled, timed out) or no longer rings ``callee`` (declined on another
        of their devices). Decided under the row lock, so an accept racing a decline or a
        cancel on another process has one winner."""
        with self.db.write() as conn:
            row = self._ringing_row(conn, call_id)
            if row is None or callee.id not in {u["id"] for u in row.rung}:
                return False
            conn.execute(
                sig_calls.update()
                .where(sig_calls.c.call_id == call_id, sig_calls.c.phase == RINGING)
                .values(
                    phase=ACTIVE,
                    callee_id=callee.id,
                    callee=callee.model_dump(mode="json"),
                    ring_deadline=None,
                )
            )
            audit.record(conn, callee, "", "call_accepted", detail=f"call {call_id}")
        return True

    def decline(self, call_id: str, user_id: str, now: float) -> str:
        """``user_id`` declines: "" if the call no longer rings them; "declined" if others
        still ring; "ended" if they were the last (the call ends as declined). One
        transaction under the row lock: two declines on two processes cannot both keep the
        other's name on the rung list, and a decline racing an accept has one winner."""
        with self.db.write() as conn:
            row = self._ringing_row(conn, call_id)
            if row is None or user_id not in {u["id"] for u in row.rung}:
                return ""
            rung = [u for u in row.rung if u["id"] != user_id]
            if rung:
                conn.execute(
                    sig_calls.update().where(sig_calls.c.call_id == call_id).values(rung=rung)
                )
                return "declined"
            self._end_in(conn, call_id, "declined", now)
            return "ended"

    def end(self, call_id: str, reason: str, now: float, only_phase: str | None = None) -> bool:
        """Mark the call ended (once: False if it already was, or is not in ``only_phase``)."""
        with self.db.write() as conn:
            return self._end_in(conn, call_id, reason, now, only_phase)

    def _end_in(
        self,
        conn: sa.Connection,
        call_id: str,
        reason: str,
        now: float,
        only_phase: str | None = None,
    ) -> bool:
        cond = [sig_calls.c.call_id == call_id, sig_calls.c.phase != ENDED]
        if only_phase is not None:
            cond.append(sig_calls.c.phase == only_phase)
        n = conn.execute(
            sig_calls.update()
            .where(*cond)
            .values(phase=ENDED, ended_at=now, end_reason=reason[:32], ring_deadline=None)
        ).rowcount
        if n:
            conn.execute(sig_gone.delete().where(sig_gone.c.call_id == call_id))
            audit.record_account(conn, "", "", "", "call_ended", f"call {call_id}: {reason}")
        return n == 1

    def due_ring_timeouts(self, now: float) -> list[str]:
        with self.db.read() as conn:
            return list(
                conn.execute(
                    sa.select(sig_calls.c.call_id).where(
                        sig_calls.c.phase == RINGING, sig_calls.c.ring_deadline <= now
                    )
                ).scalars()
            )

    # ---- gone timers -------------------------------------------------------------------

    def start_gone(self, call_id: str, user_id: str, deadline: float) -> None:
        """Start the timer unless it runs already (two processes may both notice)."""
        try:
            with self.db.write() as conn:
                exists = conn.execute(
                    sa.select(sig_gone.c.deadline).where(
                        sig_gone.c.call_id == call_id, sig_gone.c.user_id == user_id
                    )
                ).first()
                if exists is None:
                    conn.execute(
                        sig_gone.insert().values(
                            call_id=call_id, user_id=user_id, deadline=deadline
                        )
                    )
        except sa.exc.IntegrityError:
            pass

    def take_due_gone(self, now: float) -> list[tuple[str, str]]:
        """Gone timers that expired, each removed by exactly one caller: [(call, user)]."""
        out: list[tuple[str, str]] = []
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(sig_gone.c.call_id, sig_gone.c.user_id).where(sig_gone.c.deadline <= now)
            ).all()
        if not rows:
            return out
        with self.db.write() as conn:
            for r in rows:
                n = conn.execute(
                    sig_gone.delete().where(
                        sig_gone.c.call_id == r.call_id, sig_gone.c.user_id == r.user_id
                    )
                ).rowcount
                if n:
                    out.append((r.call_id, r.user_id))
        return out

    def purge(self, now: float, keep_ended_s: float = 3600.0) -> None:
        """Forget calls ended long ago (missed calls are kept in ``missed_calls``)."""
        with self.db.write() as conn:
            conn.execute(
                sig_calls.delete().where(
                    sig_calls.c.phase == ENDED, sig_calls.c.ended_at < now - keep_ended_s
                )
            )
