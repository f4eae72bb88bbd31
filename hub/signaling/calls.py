"""Who is connected and which calls exist: the hub's in-memory call switchboard.

Calls are short-lived and tied to live WebSockets, so they live in this process's memory
(run signaling in one hub process, or pin WebSockets with sticky sessions). Missed calls
go to the database (``hub.signaling.missed``) and are handed over in the next ``hello``.

Rules: only participants of the consultation may call or be rung; a user already in a call
is busy; the first callee to accept gets the call, other rung devices are told it was
answered elsewhere; an unanswered call rings for ``ring_timeout_s`` then becomes a missed
call; a participant whose every WebSocket is gone for ``peer_gone_s`` ends the call (their
media engine is reconnecting meanwhile, the call window stays).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fastapi import WebSocket
from pydantic import BaseModel

from app.protocol.auth import Role, UserInfo
from app.protocol.signaling import MissedCall, PartyInfo
from hub.signaling.missed import MissedCallStore

_ids = itertools.count(1)


class CallPhase(StrEnum):
    ringing = "ringing"
    active = "active"
    ended = "ended"


@dataclass(eq=False)
class Connection:
    """One authenticated WebSocket."""

    user: UserInfo
    ws: WebSocket
    id: int = field(default_factory=lambda: next(_ids))
    presence_watchers: set[str] = field(default_factory=set)

    async def send(self, message: BaseModel) -> None:
        try:
            await self.ws.send_text(message.model_dump_json())
        except Exception:  # noqa: BLE001 - a closing socket; its handler cleans up
            pass


@dataclass(eq=False)
class Call:
    call_id: str
    consultation_id: str
    caller: UserInfo
    caller_conn: Connection
    rung: list[UserInfo]
    started: float = field(default_factory=time.time)
    phase: CallPhase = CallPhase.ringing
    callee: UserInfo | None = None
    callee_conn: Connection | None = None
    test: bool = False
    echo: Any = None
    ring_timer: asyncio.TimerHandle | None = None
    gone_timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)

    def party_ids(self) -> set[str]:
        ids = {self.caller.id}
        if self.callee is not None:
            ids.add(self.callee.id)
        else:
            ids.update(u.id for u in self.rung)
        return ids


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


class Switchboard:
    """Connections and calls of this hub process. Used only on the hub's event loop."""

    def __init__(
        self, missed: MissedCallStore, ring_timeout_s: float = 45.0, peer_gone_s: float = 90.0
    ) -> None:
        self.ring_timeout_s = ring_timeout_s
        self.peer_gone_s = peer_gone_s
        self.connections: dict[str, list[Connection]] = {}
        self.calls: dict[str, Call] = {}
        self.missed = missed

    # ---- connections -------------------------------------------------------------------

    def online(self, user_id: str) -> bool:
        return bool(self.connections.get(user_id))

    def conns(self, user_id: str) -> list[Connection]:
        return list(self.connections.get(user_id, []))

    def add(self, conn: Connection) -> None:
        self.connections.setdefault(conn.user.id, []).append(conn)
        for call in self.calls.values():
            timer = call.gone_timers.pop(conn.user.id, None)
            if timer is not None:
                timer.cancel()

    def remove(self, conn: Connection) -> None:
        conns = self.connections.get(conn.user.id, [])
        if conn in conns:
            conns.remove(conn)
        if not conns:
            self.connections.pop(conn.user.id, None)

    def watchers_of(self, user_id: str) -> list[Connection]:
        return [c for cs in self.connections.values() for c in cs if user_id in c.presence_watchers]

    async def take_missed(self, user_id: str) -> list[MissedCall]:
        """Missed calls not yet told to ``user_id`` (from the database, off the loop)."""
        return await asyncio.to_thread(self.missed.take, user_id)

    async def record_missed(self, call: Call) -> list[tuple[str, MissedCall]]:
        """One missed call per person ``call`` rang, stored before anyone is told."""
        out = [
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
        await asyncio.to_thread(self.missed.record, out)
        return out

    # ---- calls -------------------------------------------------------------------------

    def call_of(self, user_id: str) -> Call | None:
        """The live call ``user_id`` is in (ringing as caller, or active)."""
        for call in self.calls.values():
            if call.phase is CallPhase.ended:
                continue
            if call.caller.id == user_id and not call.test:
                return call
            if call.phase is CallPhase.active and call.callee and call.callee.id == user_id:
                return call
        return None

    def busy(self, user_id: str) -> bool:
        return self.call_of(user_id) is not None

    def peer_conns(self, call: Call, me: Connection) -> list[Connection]:
        """Where a message from ``me`` about ``call`` goes."""
        if me.user.id == call.caller.id:
            if call.callee is None:
                return []
            if call.callee_conn and call.callee_conn in self.conns(call.callee.id):
                return [call.callee_conn]
            return self.conns(call.callee.id)
        if call.caller_conn in self.conns(call.caller.id):
            return [call.caller_conn]
        return self.conns(call.caller.id)

    def end(self, call: Call) -> None:
        call.phase = CallPhase.ended
        if call.ring_timer is not None:
            call.ring_timer.cancel()
        for timer in call.gone_timers.values():
            timer.cancel()
        self.calls.pop(call.call_id, None)
