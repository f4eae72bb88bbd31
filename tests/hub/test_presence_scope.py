"""Low list: presence is no directory of who is online — only people who share a
consultation with the asker (over a real WebSocket against a real hub)."""

from __future__ import annotations

import time

from websockets.sync.client import connect

from app.protocol import signaling as sig
from tests.hub.conftest import LiveHub, make_consultation, make_patient


def _socket(hub: LiveHub, username: str, query: str = ""):  # noqa: ANN202
    ws = connect(
        hub.url.replace("http://", "ws://") + "/api/v1/ws" + query,
        additional_headers={"Authorization": f"Bearer {hub.tokens[username]}"},
        open_timeout=20,
    )
    assert isinstance(sig.parse_server_message(ws.recv(timeout=20)), sig.Hello)
    return ws


def _presence(ws, user_id: str) -> bool:  # noqa: ANN001
    ws.send(sig.PresenceQuery(user_ids=[user_id]).model_dump_json())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        m = sig.parse_server_message(ws.recv(timeout=20))
        if isinstance(m, sig.Presence) and m.user_id == user_id:
            return m.online
    raise AssertionError("no presence answer")


def test_presence_only_for_people_sharing_a_consultation(sqlite_hub: LiveHub) -> None:
    hub = sqlite_hub
    doc = hub.client("doc_a")
    make_consultation(doc, make_patient(doc), target_facility_id="county", department="放射科")
    radiologist = _socket(hub, "radiologist")
    asker_a, asker_b = _socket(hub, "doc_a"), _socket(hub, "doc_b")
    try:
        rad_id = hub.users["radiologist"]
        assert _presence(asker_a, rad_id) is True, "a colleague on a shared consultation"
        assert _presence(asker_b, rad_id) is False, "a stranger learns nothing"
    finally:
        for ws in (radiologist, asker_a, asker_b):
            ws.close()


def test_a_sync_hints_socket_alone_does_not_make_someone_reachable(sqlite_hub: LiveHub) -> None:
    """The radiologist's app keeps syncing but its call service is not connected: the clinic
    must not see them as online (a ring would reach nobody); once the call socket is up,
    they are."""
    hub = sqlite_hub
    doc = hub.client("doc_a")
    make_consultation(doc, make_patient(doc), target_facility_id="county", department="放射科")
    rad_id = hub.users["radiologist"]
    hints = _socket(hub, "radiologist", "?purpose=sync")
    asker = _socket(hub, "doc_a")
    calls = None
    try:
        assert _presence(asker, rad_id) is False, "only a sync socket: not reachable"
        calls = _socket(hub, "radiologist")
        assert _presence(asker, rad_id) is True, "the call socket is up"
    finally:
        for ws in (hints, asker, calls):
            if ws is not None:
                ws.close()
