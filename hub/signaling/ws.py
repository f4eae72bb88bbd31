"""The signaling WebSocket ``/api/v1/ws``: one per signed-in client, for calls and presence.

Authentication: ``Authorization: Bearer <access token>`` on the upgrade request (the same
token as the REST API; ``hub.auth.user_from_token``). A missing or invalid token closes
the socket with code 4401 before anything else is said. The session is checked again before
every action, and every ``session_check_s`` for idle sockets: a logout, a disabled account or
an expired access token closes the socket with 4401 (the client refreshes and reconnects;
a call survives that). Every frame is parsed with ``app.protocol.signaling``; a malformed
one gets an ``error`` frame naming the problem and the connection stays up.

Any hub process may hold any socket: call state is in the database and messages for other
users go over the bus (``hub.signaling.calls``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.protocol import signaling as sig
from hub import access
from hub.access import consultation_participants, is_participant
from hub.auth import user_from_token
from hub.signaling.calls import Connection, Switchboard, party, pick_callees
from hub.signaling.store import ACTIVE, CALL_SOCKET, RINGING, SYNC_SOCKET, CallRecord
from hub.signaling.turn import IceConfig, call_ice_servers, hello_ice_servers

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_UNAUTHORIZED = 4401
TEST_CALLS_LIVE = 2  # per user at once (a reconnecting client may briefly hold two)
TEST_CALLS_PER_MINUTE = 10


# Timer settings from the environment (seconds): how long a call rings, how long a call waits
# for a participant whose sockets are all gone, how often a process beats and after how long
# without a beat the others take its sockets over, how often idle sockets' sessions are checked.
TIMER_ENV = {
    "ring_timeout_s": "YIQIAO_RING_TIMEOUT",
    "peer_gone_s": "YIQIAO_PEER_GONE",
    "heartbeat_s": "YIQIAO_SIGNAL_HEARTBEAT",
    "dead_after_s": "YIQIAO_SIGNAL_DEAD_AFTER",
    "tick_s": "YIQIAO_SIGNAL_TICK",
    "session_check_s": "YIQIAO_SESSION_CHECK",
}


def _timer_settings() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, var in TIMER_ENV.items():
        raw = os.environ.get(var, "").strip()
        if raw:
            try:
                out[name] = float(raw)
            except ValueError:
                log.warning("ignoring %s=%r: not a number of seconds", var, raw)
    return out


def switchboard(app: Any) -> Switchboard:
    """This app's switchboard (made on first use)."""
    app_state = app.state
    if getattr(app_state, "switchboard", None) is None:
        app_state.switchboard = Switchboard(app_state.hub.db, **_timer_settings())
    return app_state.switchboard


def _ice(ws: WebSocket) -> IceConfig:
    if getattr(ws.app.state, "ice_config", None) is None:
        ws.app.state.ice_config = IceConfig.from_env()
    return ws.app.state.ice_config


def _token(ws: WebSocket) -> str:
    header = ws.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@router.websocket("/api/v1/ws")
async def signaling_socket(ws: WebSocket) -> None:
    """Authenticate, say hello, then handle frames until the client goes."""
    db = ws.app.state.hub.db
    token = _token(ws)
    user = await run_in_threadpool(user_from_token, db, token) if token else None
    if user is None:
        await ws.close(
            code=CLOSE_UNAUTHORIZED, reason="sign in first: missing or expired access token"
        )
        return
    board = switchboard(ws.app)
    await board.ensure_started()
    await ws.accept()
    # A hints-only socket (?purpose=sync) leaves missed calls, ringing and presence to the
    # call socket: it cannot answer, so it must not make its user look reachable.
    purpose = SYNC_SOCKET if ws.query_params.get("purpose") == SYNC_SOCKET else CALL_SOCKET
    conn = board.new_connection(user, ws, hashlib.sha256(token.encode()).hexdigest(), purpose)
    await board.add(conn)
    ice = _ice(ws)
    await conn.send(
        sig.Hello(
            user_id=user.id,
            ice_servers=hello_ice_servers(ice),
            missed_calls=[]
            if purpose == SYNC_SOCKET
            else await run_in_threadpool(board.missed.take, user.id),
        )
    )
    if purpose == CALL_SOCKET:
        await board.catch_up(conn)
    handler = _Handler(ws, conn, board, token, ice)
    try:
        while True:
            raw = await ws.receive_text()
            try:
                message = sig.parse_client_message(raw)
            except sig.SignalingError as exc:
                await conn.send(sig.Error(code="bad_message", message=str(exc)))
                continue
            if not isinstance(message, sig.Ping) and not await handler.session_alive():
                await conn.close(CLOSE_UNAUTHORIZED, "your session ended: sign in again")
                break
            await handler.handle(message)
    except (WebSocketDisconnect, RuntimeError):
        pass  # RuntimeError: receive after the hub closed the socket itself
    finally:
        await board.remove(conn)


class _Handler:
    def __init__(
        self, ws: WebSocket, conn: Connection, board: Switchboard, token: str, ice: IceConfig
    ) -> None:
        self.ws, self.conn, self.board, self.token, self.ice = ws, conn, board, token, ice
        self.db = ws.app.state.hub.db
        self.user = conn.user
        self.store = board.store

    async def session_alive(self) -> bool:
        return await run_in_threadpool(user_from_token, self.db, self.token) is not None

    async def handle(self, m: BaseModel) -> None:
        if isinstance(m, sig.Ping):
            await self.conn.send(sig.Pong())
        elif isinstance(m, sig.PresenceQuery):
            # Only people the asker shares a consultation with; others read as offline.
            visible = await run_in_threadpool(
                access.presence_visible, self.db, self.user, list(m.user_ids)
            )
            self.conn.presence_watchers.update(visible)
            online = await self.board.online(sorted(visible))
            for uid in m.user_ids:
                await self.conn.send(sig.Presence(user_id=uid, online=uid in online))
        elif isinstance(m, sig.Invite):
            await self._invite(m)
        elif isinstance(m, sig.TestCallStart):
            await self._test_call(m)
        else:
            call_id = getattr(m, "call_id", "")
            call = await run_in_threadpool(self.store.get_call, call_id)
            if call is None or call.phase == "ended" or self.user.id not in call.party_ids():
                await self._error("unknown_call", "no such call, or it is not yours", call_id)
                return
            await self._in_call(call, m)

    async def _error(self, code: str, message: str, call_id: str | None = None) -> None:
        await self.conn.send(sig.Error(code=code, message=message, call_id=call_id))

    def _now(self) -> float:
        return self.board.clock()

    # ---- starting calls ----------------------------------------------------------------

    async def _invite(self, m: sig.Invite) -> None:
        if await run_in_threadpool(self.store.get_call, m.call_id) is not None:
            await self._error("duplicate_call", "a call with this id exists", m.call_id)
            return
        allowed = await run_in_threadpool(is_participant, self.db, self.user, m.consultation_id)
        if not allowed:
            await self._error(
                "not_participant",
                "you do not take part in this consultation, so you cannot call about it",
                m.call_id,
            )
            return
        if await run_in_threadpool(self.store.busy, [self.user.id]):
            await self._error("already_in_call", "finish your current call first", m.call_id)
            return
        participants = await run_in_threadpool(
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
        busy = await run_in_threadpool(self.store.busy, [u.id for u in callees])
        free = [u for u in callees if u.id not in busy]
        if not free:
            await self.conn.send(sig.Busy(call_id=m.call_id))
            return
        call = CallRecord(
            call_id=m.call_id,
            consultation_id=m.consultation_id,
            caller=self.user,
            caller_conn=self.conn.id,
            rung=free,
            phase=RINGING,
            callee=None,
            test=False,
            started=self._now(),
        )
        online_ids = await self.board.online([u.id for u in free])
        online = [u for u in free if u.id in online_ids]
        if not online:
            await self.board.record_missed(call)
            await self.conn.send(sig.Unavailable(call_id=m.call_id))
            return
        created = await run_in_threadpool(
            self.store.create_call, call, self._now() + self.board.ring_timeout_s
        )
        if not created:
            await self._error("duplicate_call", "a call with this id exists", m.call_id)
            return
        for u in online:
            incoming = sig.Incoming(
                call_id=call.call_id,
                consultation_id=call.consultation_id,
                caller=party(self.user),
                ice_servers=call_ice_servers(self.ice, u.id),
            )
            await self.board.send_users([u.id], incoming)
        await self.conn.send(sig.Ringing(call_id=call.call_id, callee=party(online[0])))

    async def _test_call(self, m: sig.TestCallStart) -> None:
        live, recent = await run_in_threadpool(
            self.store.test_calls_since, self.user.id, self._now() - 60
        )
        if live >= TEST_CALLS_LIVE or recent >= TEST_CALLS_PER_MINUTE:
            await self._error(
                "test_call_limit",
                "finish your test call first"
                if live >= TEST_CALLS_LIVE
                else f"at most {TEST_CALLS_PER_MINUTE} test calls a minute; try again shortly",
                m.call_id,
            )
            return
        call = CallRecord(
            call_id=m.call_id,
            consultation_id="",
            caller=self.user,
            caller_conn=self.conn.id,
            rung=[],
            phase=ACTIVE,
            callee=None,
            test=True,
            started=self._now(),
        )
        if not await run_in_threadpool(self.store.create_call, call, None):
            await self._error("duplicate_call", "a call with this id exists", m.call_id)
            return
        from hub.signaling.echo import EchoPeer  # aiortc: loaded on the first test call

        self.board.echoes[call.call_id] = EchoPeer()
        await self.conn.send(
            sig.Accepted(
                call_id=call.call_id,
                by=sig.ECHO_PEER_ID,
                ice_servers=call_ice_servers(self.ice, self.user.id),
            )
        )

    # ---- inside a call -----------------------------------------------------------------

    async def _in_call(self, call: CallRecord, m: Any) -> None:
        me = self.user.id
        board = self.board
        if isinstance(m, sig.Signal):
            if call.test:
                echo = board.echoes.get(call.call_id)
                if echo is None or call.caller_conn != self.conn.id:
                    await self._error(
                        "unknown_call", "this test call ended: start a new one", call.call_id
                    )
                elif m.kind == "offer":
                    sdp = await echo.answer(m.session, m.sdp)
                    await self.conn.send(
                        sig.Signal(call_id=call.call_id, session=m.session, kind="answer", sdp=sdp)
                    )
                return
            if call.phase != ACTIVE:
                await self._error("not_active", "the call has not been accepted", call.call_id)
                return
            callee = call.callee
            if callee is None:  # an active call always has one; never fail the socket over it
                return
            peer = callee.id if me == call.caller.id else call.caller.id
            await board.send_users([peer], m)
        elif isinstance(m, sig.Accept):
            if call.phase != RINGING or me == call.caller.id:
                await self._error("not_ringing", "this call is not ringing for you", call.call_id)
                return
            if not await run_in_threadpool(self.store.accept, call.call_id, self.user):
                await self._error("not_ringing", "this call is not ringing for you", call.call_id)
                return
            await board.send_users(
                [call.caller.id],
                sig.Accepted(
                    call_id=call.call_id,
                    by=me,
                    ice_servers=call_ice_servers(self.ice, call.caller.id),
                ),
            )
            elsewhere = sig.Ended(call_id=call.call_id, reason="answered_elsewhere")
            await board.send_users([me], elsewhere, exclude_conn=self.conn.id)
            await board.send_users([u.id for u in call.rung if u.id != me], elsewhere)
        elif isinstance(m, sig.Decline):
            if call.phase != RINGING or me == call.caller.id:
                await self._error("not_ringing", "this call is not ringing for you", call.call_id)
                return
            outcome = await run_in_threadpool(self.store.decline, call.call_id, me, self._now())
            if not outcome:  # accepted (maybe on my other device), cancelled, or timed out
                await self._error("not_ringing", "this call is not ringing for you", call.call_id)
                return
            await board.send_users([me], sig.Ended(call_id=call.call_id, by=me, reason="declined"))
            if outcome == "ended":
                await board.send_users(
                    [call.caller.id], sig.Declined(call_id=call.call_id, by=me, reason=m.reason)
                )
        elif isinstance(m, sig.Cancel):
            if me != call.caller.id or call.phase != RINGING:
                await self._error(
                    "not_ringing", "only the caller can cancel a ringing call", call.call_id
                )
                return
            if not await run_in_threadpool(
                self.store.end, call.call_id, "cancelled", self._now(), RINGING
            ):
                return
            for uid, missed in await board.record_missed(call):
                await board.send_users([uid], sig.Cancelled(call_id=call.call_id))
                await board.send_users([uid], sig.Missed(call=missed))
        elif isinstance(m, sig.Hangup):
            await board.finish(call, by=me, reason=m.reason)
