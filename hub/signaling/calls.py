"""The call switchboard of one hub process, over state shared by all of them.

What lives where (docs/hub.md, "Signaling across processes"):
- in the database (``hub.signaling.store``): who is connected to which process (presence),
  every call (ringing, active, ended) with its ring deadline, the gone timers, each
  process's heartbeat, missed calls (``hub.signaling.missed``);
- on the bus (``hub.signaling.bus``): messages for a user's sockets, presence changes;
- in this process only: its own WebSocket objects, which of them watch whose presence, and
  the echo peers of test calls whose caller's socket it holds (aiortc objects cannot move;
  a test call ends when that socket closes).

Any process fires any timer: a ticker looks for due ring timeouts and gone timers in the
database and takes each with a conditional write, so exactly one process acts. A process
whose heartbeat stops is declared dead by the first survivor that notices; its sockets are
removed from presence and their calls treated as if those sockets had closed.

Rules: only participants of the consultation may call or be rung; a user already in a call
is busy; the first callee to accept gets the call, other rung devices are told it was
answered elsewhere; an unanswered call rings for ``ring_timeout_s`` then becomes a missed
call; a participant whose every WebSocket is gone for ``peer_gone_s`` ends the call (their
media engine is reconnecting meanwhile, the call window stays).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import WebSocket
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.protocol import signaling as sig
from app.protocol.auth import Role, UserInfo
from app.protocol.signaling import MissedCall, PartyInfo
from hub.db import Database
from hub.signaling.bus import Bus, make_bus, purge_payloads
from hub.signaling.missed import MissedCallStore
from hub.signaling.store import ACTIVE, CALL_SOCKET, RINGING, CallRecord, SignalStore

if TYPE_CHECKING:  # aiortc loads only when a test call starts
    from hub.signaling.echo import EchoPeer

log = logging.getLogger(__name__)

CLOSE_SESSION_ENDED = 4401


@dataclass(eq=False)
class Connection:
    """One authenticated WebSocket held by this process."""

    user: UserInfo
    ws: WebSocket
    id: str
    session_hash: str = ""
    purpose: str = CALL_SOCKET  # or "sync": a sync-hints socket (no calls, no presence)
    presence_watchers: set[str] = field(default_factory=set)

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except Exception:  # noqa: BLE001 - a closing socket; its handler cleans up
            pass

    async def send(self, message: BaseModel) -> None:
        await self.send_text(message.model_dump_json())

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)


def party(user: UserInfo) -> PartyInfo:
    return PartyInfo(id=user.id, display_name=user.display_name, facility_name=user.facility_name)


def pick_callees(
    caller: UserInfo, participants: list[UserInfo], callee_id: str | None
) -> list[UserInfo]:
    """Whom to ring: the named participant, else the other side's doctors/specialists
    (people at another facility than the caller), else coordinators there."""
    others = [u for u in participants if u.id != caller.id]
    if callee_id is not None:
        return [u for u in others if u.id == callee_id]
    far = [u for u in others if u.facility_id != caller.facility_id] or others
    clinical = [u for u in far if u.role in (Role.clinic_doctor, Role.specialist)]
    return clinical or [u for u in far if u.role == Role.coordinator] or far


def missed_entries(call: CallRecord) -> list[tuple[str, MissedCall]]:
    return [
        (
            user.id,
            MissedCall(
                call_id=call.call_id,
                consultation_id=call.consultation_id,
                caller=party(call.caller),
                at=call.started,
            ),
        )
        for user in call.rung
    ]


class Switchboard:
    """This process's sockets, its view of the shared call state, and its timers."""

    def __init__(
        self,
        db: Database,
        ring_timeout_s: float = 45.0,
        peer_gone_s: float = 90.0,
        tick_s: float = 0.5,
        heartbeat_s: float = 3.0,
        dead_after_s: float = 20.0,
        session_check_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        bus: Bus | None = None,
    ) -> None:
        self.db = db
        self.ring_timeout_s = ring_timeout_s
        self.peer_gone_s = peer_gone_s
        self.tick_s, self.heartbeat_s, self.session_check_s = tick_s, heartbeat_s, session_check_s
        self.clock = clock
        self.process_id = secrets.token_hex(8)
        self.store = SignalStore(db, max(dead_after_s, 2 * heartbeat_s))
        self.missed = MissedCallStore(db)
        self.bus = bus or make_bus(db)
        self.local: dict[str, Connection] = {}
        self.echoes: dict[str, EchoPeer] = {}
        self._ids = itertools.count(1)
        self._ticker: asyncio.Task[None] | None = None
        self._started: asyncio.Future[None] | None = None
        self.delivered = 0  # frames handed to local sockets from the bus

    # ---- life --------------------------------------------------------------------------

    async def ensure_started(self) -> None:
        """Register this process, listen on the bus, start the timers (once)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                await run_in_threadpool(self.store.register_process, self.process_id, self.clock())
                await self.bus.start(self.deliver)
                self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())
                # aiortc takes a while to import: load the echo peer's module now, off the
                # loop, instead of stalling every socket at the first test call.
                self._preload = asyncio.get_running_loop().run_in_executor(
                    None, importlib.import_module, "hub.signaling.echo"
                )
                self._started.set_result(None)
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started = None
                raise
        await asyncio.shield(self._started)

    async def stop(self) -> None:
        """Clean shutdown: sockets closed, presence cleared, survivors keep the calls."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ticker
        for conn in list(self.local.values()):
            await conn.close(1012, "hub restarting: reconnect")
        for echo in list(self.echoes.values()):
            await echo.close()
        gone = await run_in_threadpool(self.store.unregister_process, self.process_id)
        if gone:
            await self.connections_lost(gone)
        await self.bus.stop()

    # ---- fan-out -----------------------------------------------------------------------

    async def send_users(
        self, user_ids: list[str] | set[str], message: BaseModel, exclude_conn: str = ""
    ) -> None:
        """Deliver ``message`` to every socket of these users, on whichever process."""
        if user_ids:
            await self.bus.publish(
                {
                    "t": "send",
                    "to": sorted(set(user_ids)),
                    "x": exclude_conn,
                    "m": message.model_dump_json(),
                }
            )

    async def presence_changed(self, user_ids: list[str] | set[str]) -> None:
        if user_ids:
            await self.bus.publish({"t": "presence", "users": sorted(set(user_ids))})

    async def deliver(self, event: dict[str, Any]) -> None:
        """A bus event reached this process: hand it to the sockets it concerns."""
        kind = event.get("t")
        if kind == "send":
            wanted, exclude, text = set(event.get("to", ())), event.get("x", ""), event["m"]
            for conn in list(self.local.values()):
                if conn.user.id in wanted and conn.id != exclude:
                    self.delivered += 1
                    await conn.send_text(text)
        elif kind == "presence":
            changed = list(event.get("users", ()))
            watchers = [c for c in self.local.values() if c.presence_watchers.intersection(changed)]
            if not watchers:
                return
            online = await run_in_threadpool(self.store.online, changed, self.clock())
            for conn in watchers:
                for uid in conn.presence_watchers.intersection(changed):
                    await conn.send(sig.Presence(user_id=uid, online=uid in online))

    # ---- sockets -----------------------------------------------------------------------

    def new_connection(
        self, user: UserInfo, ws: WebSocket, session_hash: str, purpose: str = CALL_SOCKET
    ) -> Connection:
        return Connection(user, ws, f"{self.process_id}:{next(self._ids)}", session_hash, purpose)

    async def add(self, conn: Connection) -> None:
        self.local[conn.id] = conn
        await run_in_threadpool(
            self.store.add_connection,
            conn.id,
            conn.user.id,
            self.process_id,
            conn.session_hash,
            self.clock(),
            conn.purpose,
        )
        if conn.purpose == CALL_SOCKET:
            await self.presence_changed([conn.user.id])

    async def remove(self, conn: Connection) -> None:
        self.local.pop(conn.id, None)
        await run_in_threadpool(self.store.remove_connection, conn.id)
        if conn.purpose == CALL_SOCKET:  # a sync socket neither made them present nor holds calls
            await self.connections_lost([(conn.id, conn.user.id)])

    async def online(self, user_ids: list[str]) -> set[str]:
        return await run_in_threadpool(self.store.online, user_ids, self.clock())

    async def catch_up(self, conn: Connection) -> None:
        """A (re)connected socket hears what it may have missed while it had none: a call
        still ringing for it, or that its own ringing call was accepted."""
        calls = await run_in_threadpool(self.store.live_calls_of, conn.user.id)
        for call in calls:
            me = conn.user.id
            if call.test:
                continue
            if call.phase == RINGING and me != call.caller.id:
                await conn.send(
                    sig.Incoming(
                        call_id=call.call_id,
                        consultation_id=call.consultation_id,
                        caller=party(call.caller),
                    )
                )
            elif call.phase == ACTIVE and me == call.caller.id and call.callee is not None:
                await conn.send(sig.Accepted(call_id=call.call_id, by=call.callee.id))

    async def connections_lost(self, lost: list[tuple[str, str]], crashed: bool = False) -> None:
        """Sockets closed (here, or held by a dead process when ``crashed``): test calls on
        them end; a caller who closed their socket while ringing cancels; otherwise a call
        ends only if its participant stays gone ``peer_gone_s`` (a crashed process's clients
        reconnect to the others meanwhile)."""
        users = sorted({uid for _, uid in lost})
        if not users:
            return
        await self.presence_changed(users)
        still = await self.online(users)
        conn_ids = {cid for cid, _ in lost}
        for uid in users:
            for call in await run_in_threadpool(self.store.live_calls_of, uid):
                if call.test:
                    if call.caller_conn in conn_ids:
                        await self.finish(call, by=uid, reason="gone")
                    continue
                if uid in still:
                    continue
                if call.phase == RINGING and uid == call.caller.id and not crashed:
                    if await run_in_threadpool(
                        self.store.end, call.call_id, "cancelled", self.clock()
                    ):
                        await self.send_users(
                            call.party_ids() - {uid}, sig.Cancelled(call_id=call.call_id)
                        )
                    continue
                await run_in_threadpool(
                    self.store.start_gone, call.call_id, uid, self.clock() + self.peer_gone_s
                )

    # ---- call endings shared by the handler and the timers ------------------------------

    async def finish(self, call: CallRecord, by: str, reason: str) -> None:
        """End ``call`` for everyone (once, whichever process gets here first)."""
        echo = self.echoes.pop(call.call_id, None)
        if echo is not None:
            await echo.close()
        if not await run_in_threadpool(self.store.end, call.call_id, reason, self.clock()):
            return
        await self.send_users(
            call.party_ids(), sig.Ended(call_id=call.call_id, by=by, reason=reason)
        )

    async def record_missed(self, call: CallRecord) -> list[tuple[str, MissedCall]]:
        """One missed call per person ``call`` rang, stored before anyone is told."""
        out = missed_entries(call)
        await run_in_threadpool(self.missed.record, out)
        return out

    async def ring_timeout(self, call_id: str) -> None:
        if not await run_in_threadpool(self.store.end, call_id, "no_answer", self.clock(), RINGING):
            return  # accepted, cancelled, or another process fired it
        call = await run_in_threadpool(self.store.get_call, call_id)
        if call is None:
            return
        for uid, missed in await self.record_missed(call):
            await self.send_users([uid], sig.Missed(call=missed))
            await self.send_users([uid], sig.Ended(call_id=call_id, reason="missed"))
        await self.send_users([call.caller.id], sig.Ended(call_id=call_id, reason="no_answer"))

    async def gone_expired(self, call_id: str, user_id: str) -> None:
        call = await run_in_threadpool(self.store.get_call, call_id)
        if call is not None:
            await self.finish(call, by=user_id, reason="peer_gone")

    # ---- timers ------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        last_beat = last_sessions = last_purge = 0.0
        while True:
            try:
                now = self.clock()
                if now - last_beat >= self.heartbeat_s:
                    last_beat = now
                    await self._beat(now)
                if now - last_sessions >= self.session_check_s:
                    last_sessions = now
                    await self.close_ended_sessions()
                for call_id in await run_in_threadpool(self.store.due_ring_timeouts, now):
                    await self.ring_timeout(call_id)
                for call_id, user_id in await run_in_threadpool(self.store.take_due_gone, now):
                    await self.gone_expired(call_id, user_id)
                if now - last_purge >= 60:
                    last_purge = now
                    await run_in_threadpool(self.store.purge, now)
                    if not self.db.is_sqlite:
                        await run_in_threadpool(purge_payloads, self.db)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be restarting; try again
                log.exception("signaling timers: one pass failed")
            await asyncio.sleep(self.tick_s)

    async def _beat(self, now: float) -> None:
        if not await run_in_threadpool(self.store.heartbeat, self.process_id, now):
            # A survivor took us for dead (we stalled past dead_after_s) and removed our
            # sockets from presence: put them back; their gone timers are cleared again.
            log.warning("signaling: this process was taken for dead; re-registering its sockets")
            await run_in_threadpool(self.store.register_process, self.process_id, now)
            for conn in list(self.local.values()):
                await run_in_threadpool(
                    self.store.add_connection,
                    conn.id,
                    conn.user.id,
                    self.process_id,
                    conn.session_hash,
                    now,
                )
            await self.presence_changed({c.user.id for c in self.local.values()})
        for lost in (await run_in_threadpool(self.store.claim_dead_processes, now)).values():
            if lost:
                log.info("signaling: took over %d sockets of a dead hub process", len(lost))
                await self.connections_lost(lost, crashed=True)

    async def close_ended_sessions(self) -> None:
        """Close sockets whose session ended (logout, disable, expiry) since they opened."""
        conns = list(self.local.values())
        ended = await run_in_threadpool(
            self.store.ended_sessions, [c.session_hash for c in conns], self.clock()
        )
        for conn in conns:
            if conn.session_hash in ended:
                await conn.close(CLOSE_SESSION_ENDED, "your session ended: sign in again")
