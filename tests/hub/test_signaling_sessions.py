"""The signaling WebSocket follows its session (logout, disabled account, expiry) and limits
test calls per user — over a real WebSocket against a real hub."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.protocol import signaling as sig
from hub import accounts
from hub.signaling.calls import Switchboard
from tests.hub.conftest import LiveHub


def _socket(hub: LiveHub, token: str):  # noqa: ANN202
    ws = connect(
        hub.url.replace("http://", "ws://") + "/api/v1/ws",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=20,
    )
    assert isinstance(sig.parse_server_message(ws.recv(timeout=20)), sig.Hello)
    return ws


def _closed_code(ws, timeout: float = 20.0) -> int:  # noqa: ANN001
    """Read until the hub closes the socket; its close code."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.05, deadline - time.monotonic()))
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else -1
    except TimeoutError:
        pass
    raise AssertionError(f"the hub did not close the socket within {timeout:.0f} s")


@pytest.fixture
def hub(sqlite_hub: LiveHub) -> LiveHub:
    # Idle sockets' sessions checked every 0.2 s instead of every 5 s.
    sqlite_hub.app.state.switchboard = Switchboard(sqlite_hub.state.db, session_check_s=0.2)
    return sqlite_hub


def test_logout_closes_the_open_socket(hub: LiveHub) -> None:
    token = hub.login("doc_a")["access_token"]
    ws = _socket(hub, token)
    r = httpx.post(hub.url + "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204
    assert _closed_code(ws) == 4401


def test_a_disabled_account_can_no_longer_ring_anyone(hub: LiveHub) -> None:
    # No sweep: only the check before each action stands between a disabled user and a call.
    hub.app.state.switchboard = Switchboard(hub.state.db, session_check_s=3600)
    token = hub.login("doc_b")["access_token"]
    ws = _socket(hub, token)
    accounts.set_disabled(hub.state.db, "doc_b", True)
    try:
        ws.send(sig.Invite(call_id=uuid.uuid4().hex, consultation_id="any").model_dump_json())
        assert _closed_code(ws) == 4401
    finally:
        accounts.set_disabled(hub.state.db, "doc_b", False)


def test_an_expired_access_token_closes_the_socket(hub: LiveHub) -> None:
    from hub.db import sessions

    token = hub.login("radiologist")["access_token"]
    ws = _socket(hub, token)
    with hub.state.db.write() as conn:
        conn.execute(sessions.update().values(access_expires=time.time() - 1))
    assert _closed_code(ws) == 4401


def test_test_calls_are_limited_per_user(hub: LiveHub) -> None:
    token = hub.login("cardiologist")["access_token"]
    ws = _socket(hub, token)
    for _ in range(30):
        ws.send(sig.TestCallStart(call_id=uuid.uuid4().hex).model_dump_json())
    accepted = refused = 0
    while accepted + refused < 30:
        m = sig.parse_server_message(ws.recv(timeout=60))
        if isinstance(m, sig.Accepted):
            accepted += 1
        elif isinstance(m, sig.Error):
            assert m.code == "test_call_limit", m
            refused += 1
    assert accepted == 2 and refused == 28
    ws.close()


def test_turn_credentials_come_with_the_call_not_with_hello(hub: LiveHub) -> None:
    from hub.signaling.turn import IceConfig
    from tests.hub.conftest import make_consultation, make_patient

    hub.app.state.ice_config = IceConfig(["stun:s:3478"], ["turn:t:3478"], "s3cret", 600)
    doc = hub.client("doc_a")
    cid = make_consultation(
        doc,
        make_patient(doc),
        target_facility_id="county",
        department="放射科",
        specialist_id=hub.users["radiologist"],
    )
    caller = connect(
        hub.url.replace("http://", "ws://") + "/api/v1/ws",
        additional_headers={"Authorization": f"Bearer {hub.tokens['doc_a']}"},
        open_timeout=20,
    )
    hello = sig.parse_server_message(caller.recv(timeout=20))
    assert [s.urls for s in hello.ice_servers] == [["stun:s:3478"]]  # no TURN credential
    callee = _socket(hub, hub.tokens["radiologist"])
    caller.send(sig.Invite(call_id=uuid.uuid4().hex, consultation_id=cid).model_dump_json())
    while not isinstance(m := sig.parse_server_message(callee.recv(timeout=60)), sig.Incoming):
        pass
    turn = [s for s in m.ice_servers if s.username]
    assert turn and 0 < int(turn[0].username.split(":")[0]) - time.time() <= 600
    caller.close()
    callee.close()
