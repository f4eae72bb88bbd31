"""The signaling WebSocket ``/api/v1/ws``: one per signed-in client, for calls and presence.

Authentication: ``Authorization: Bearer <access token>`` on the upgrade request (the same
token as the REST API; ``hub.auth.user_from_token``). A missing or invalid token closes
the socket with code 4401 before anything else is said. Every frame is parsed with
``app.protocol.signaling``; a malformed one gets an ``error`` frame naming the problem and
the connection stays up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from app.protocol import signaling as sig
from hub.access import consultation_participants, is_participant
from hub.auth import user_from_token
from hub.signaling.calls import Call, CallPhase, Connection, Switchboard, party, pick_callees
from hub.signaling.echo import EchoPeer
from hub.signaling.missed import MissedCallStore
from hub.signaling.turn import IceConfig, ice_servers_for

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_UNAUTHORIZED = 4401


def _state(ws: WebSocket) -> tuple[Switchboard, IceConfig]:
    app_state = ws.app.state
    if getattr(app_state, "switchboard", None) is None:
        app_state.switchboard = Switchboard(MissedCallStore(app_state.hub.db))
    if getattr(app_state, "ice_config", None) is None:
        app_state.ice_config = IceConfig.from_env()
    app_state.signaling_loop = asyncio.get_running_loop()  # for hub.signaling.hints
    return app_state.switchboard, app_state.ice_config


def _token(ws: WebSocket) -> str:
    header = ws.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@router.websocket("/api/v1/ws")
async def signaling_socket(ws: WebSocket) -> None:
    """Authenticate, say hello, then handle frames until the client goes."""
    db = ws.app.state.hub.db
    token = _token(ws)
    user = await asyncio.to_thread(user_from_token, db, token) if token else None
    if user is None:
        await ws.close(
            code=CLOSE_UNAUTHORIZED, reason="sign in first: missing or expired access token"
        )
        return
    await ws.accept()
    board, ice = _state(ws)
    conn = Connection(user, ws)
    board.add(conn)
    await conn.send(
        sig.Hello(
            user_id=user.id,
            ice_servers=ice_servers_for(ice, user.id),
            # a hints-only socket (?purpose=sync) leaves missed calls for the call socket
            missed_calls=[]
            if ws.query_params.get("purpose") == "sync"
            else await board.take_missed(user.id),
        )
    )
    for watcher in board.watchers_of(user.id):
        await watcher.send(sig.Presence(user_id=user.id, online=True))
    handler = _Handler(ws, conn, board)
    try:
        while True:
            raw = await ws.receive_text()
            try:
                message = sig.parse_client_message(raw)
            except sig.SignalingError as exc:
                await conn.send(sig.Error(code="bad_message", message=str(exc)))
                continue
            await handler.handle(message)
    except WebSocketDisconnect:
        pass
    finally:
        board.remove(conn)
        await handler.disconnected()
        if not board.online(user.id):
            for watcher in board.watchers_of(user.id):
                await watcher.send(sig.Presence(user_id=user.id, online=False))


class _Handler:
    def __init__(self, ws: WebSocket, conn: Connection, board: Switchboard) -> None:
        self.ws, self.conn, self.board = ws, conn, board
        self.db = ws.app.state.hub.db
        self.user = conn.user

    async def handle(self, m: BaseModel) -> None:
        if isinstance(m, sig.Ping):
            await self.conn.send(sig.Pong())
        elif isinstance(m, sig.PresenceQuery):
            self.conn.presence_watchers.update(m.user_ids)
            for uid in m.user_ids:
                await self.conn.send(sig.Presence(user_id=uid, online=self.board.online(uid)))
        elif isinstance(m, sig.Invite):
            await self._invite(m)
        elif isinstance(m, sig.TestCallStart):
            await self._test_call(m)
        else:
            call = self.board.calls.get(getattr(m, "call_id", ""))
            if call is None or self.user.id not in call.party_ids():
                await self._error(
                    "unknown_call", "no such call, or it is not yours", getattr(m, "call_id", None)
                )
                return
            await self._in_call(call, m)

    async def _error(self, code: str, message: str, call_id: str | None = None) -> None:
        await self.conn.send(sig.Error(code=code, message=message, call_id=call_id))

    async def _send_user(self, user_id: str, message: BaseModel) -> None:
        for c in self.board.conns(user_id):
            await c.send(message)

    # ---- starting calls ----------------------------------------------------------------

    async def _invite(self, m: sig.Invite) -> None:
        if m.call_id in self.board.calls:
            await self._error("duplicate_call", "a call with this id exists", m.call_id)
            return
        allowed = await asyncio.to_thread(is_participant, self.db, self.user, m.consultation_id)
        if not allowed:
            await self._error(
                "not_participant",
                "you do not take part in this consultation, so you cannot call about it",
                m.call_id,
            )
            return
        if self.board.busy(self.user.id):
            await self._error("already_in_call", "finish your current call first", m.call_id)
            return
        participants = await asyncio.to_thread(
            consultation_participants, self.db, m.consultation_id
        )
        callees = pick_callees(self.user, participants, m.callee_id)
        if not callees:
            await self._error(
                "no_callee",
                "nobody else takes part in this consultation"
                if m.callee_id is None
                else "that person does not take part in this consultation",
                m.call_id,
            )
            return
        free = [u for u in callees if not self.board.busy(u.id)]
        if not free:
            await self.conn.send(sig.Busy(call_id=m.call_id))
            return
        call = Call(m.call_id, m.consultation_id, self.user, self.conn, free)
        online = [u for u in free if self.board.online(u.id)]
        if not online:
            await self.board.record_missed(call)
            await self.conn.send(sig.Unavailable(call_id=m.call_id))
            return
        self.board.calls[call.call_id] = call
        loop = asyncio.get_running_loop()
        call.ring_timer = loop.call_later(
            self.board.ring_timeout_s, lambda: loop.create_task(self._ring_timeout(call))
        )
        incoming = sig.Incoming(
            call_id=call.call_id, consultation_id=call.consultation_id, caller=party(self.user)
        )
        for u in online:
            await self._send_user(u.id, incoming)
        await self.conn.send(sig.Ringing(call_id=call.call_id, callee=party(online[0])))

    async def _ring_timeout(self, call: Call) -> None:
        if call.phase is not CallPhase.ringing:
            return
        self.board.end(call)
        for uid, missed in await self.board.record_missed(call):
            await self._send_user(uid, sig.Missed(call=missed))
            await self._send_user(uid, sig.Ended(call_id=call.call_id, reason="missed"))
        await call.caller_conn.send(sig.Ended(call_id=call.call_id, reason="no_answer"))

    async def _test_call(self, m: sig.TestCallStart) -> None:
        if m.call_id in self.board.calls:
            await self._error("duplicate_call", "a call with this id exists", m.call_id)
            return
        call = Call(m.call_id, "", self.user, self.conn, [], test=True)
        call.phase, call.echo = CallPhase.active, EchoPeer()
        self.board.calls[call.call_id] = call
        await self.conn.send(sig.Accepted(call_id=call.call_id, by=sig.ECHO_PEER_ID))

    # ---- inside a call -----------------------------------------------------------------

    async def _in_call(self, call: Call, m: Any) -> None:
        me = self.user.id
        if isinstance(m, sig.Signal):
            if call.test:
                if m.kind == "offer":
                    sdp = await call.echo.answer(m.session, m.sdp)
                    await self.conn.send(
                        sig.Signal(call_id=call.call_id, session=m.session, kind="answer", sdp=sdp)
                    )
                return
            if call.phase is not CallPhase.active:
                await self._error("not_active", "the call has not been accepted", call.call_id)
                return
            for c in self.board.peer_conns(call, self.conn):
                await c.send(m)
        elif isinstance(m, sig.Accept):
            if call.phase is not CallPhase.ringing or me == call.caller.id:
                await self._error("not_ringing", "this call is not ringing for you", call.call_id)
                return
            call.phase, call.callee, call.callee_conn = CallPhase.active, self.user, self.conn
            if call.ring_timer is not None:
                call.ring_timer.cancel()
            await call.caller_conn.send(sig.Accepted(call_id=call.call_id, by=me))
            for c in self.board.conns(me):
                if c is not self.conn:
                    await c.send(sig.Ended(call_id=call.call_id, reason="answered_elsewhere"))
            for u in call.rung:
                if u.id != me:
                    await self._send_user(
                        u.id, sig.Ended(call_id=call.call_id, reason="answered_elsewhere")
                    )
        elif isinstance(m, sig.Decline):
            if call.phase is not CallPhase.ringing or me == call.caller.id:
                await self._error("not_ringing", "this call is not ringing for you", call.call_id)
                return
            call.rung = [u for u in call.rung if u.id != me]
            await self._send_user(me, sig.Ended(call_id=call.call_id, by=me, reason="declined"))
            if not call.rung:
                self.board.end(call)
                await call.caller_conn.send(
                    sig.Declined(call_id=call.call_id, by=me, reason=m.reason)
                )
        elif isinstance(m, sig.Cancel):
            if me != call.caller.id or call.phase is not CallPhase.ringing:
                await self._error(
                    "not_ringing", "only the caller can cancel a ringing call", call.call_id
                )
                return
            self.board.end(call)
            for uid, missed in await self.board.record_missed(call):
                await self._send_user(uid, sig.Cancelled(call_id=call.call_id))
                await self._send_user(uid, sig.Missed(call=missed))
        elif isinstance(m, sig.Hangup):
            await self._finish(call, by=me, reason=m.reason)

    async def _finish(self, call: Call, by: str, reason: str) -> None:
        self.board.end(call)
        if call.echo is not None:
            await call.echo.close()
        ended = sig.Ended(call_id=call.call_id, by=by, reason=reason)
        for uid in call.party_ids():
            await self._send_user(uid, ended)

    async def disconnected(self) -> None:
        """This socket closed: test calls end; a real call ends only if the user stays gone."""
        me = self.user.id
        for call in list(self.board.calls.values()):
            if call.test and call.caller_conn is self.conn:
                await self._finish(call, by=me, reason="gone")
            elif me in call.party_ids() and not self.board.online(me):
                if call.phase is CallPhase.ringing and me == call.caller.id:
                    self.board.end(call)
                    for uid in call.party_ids() - {me}:
                        await self._send_user(uid, sig.Cancelled(call_id=call.call_id))
                    continue
                loop = asyncio.get_running_loop()
                call.gone_timers[me] = loop.call_later(
                    self.board.peer_gone_s,
                    lambda c=call, lp=loop: lp.create_task(
                        self._finish(c, by=me, reason="peer_gone")
                    ),
                )
