"""The access token is renewed before it expires, not only after a 401: a large body sent with
an expired token is refused unread and its connection closed, which a client may see only as
a reset ("hub offline") and so would retry for ever without renewing."""

from __future__ import annotations

from app.sync.hub_client import HubClient
from tests.support.clock import ManualClock
from tests.sync.hub_harness import PASSWORD


def test_a_token_near_its_expiry_is_renewed_before_the_request(hub) -> None:
    clock = ManualClock()
    client = HubClient(hub.url, timeout=60)
    client.clock = clock
    seen = []
    client.on_tokens = seen.append
    first = client.login("doc1", PASSWORD)
    twin = client.clone()  # a transfer thread's connection shares the login

    assert client.authed("GET", "/api/v1/me").status_code == 200
    assert client.tokens is not None and client.tokens.access_token == first.access_token
    assert not seen  # still fresh: nothing renewed

    clock.advance(first.expires_in - 10)  # within the renewal margin, not yet expired
    assert twin.authed("GET", "/api/v1/me").status_code == 200
    assert len(seen) == 1, "renewed once, before sending (the old token was still valid)"
    assert twin.tokens is not None and twin.tokens.access_token != first.access_token
    assert client.tokens is not None and client.tokens.access_token == twin.tokens.access_token
    assert client.authed("GET", "/api/v1/me").status_code == 200
    assert len(seen) == 1, "the parent uses the renewed pair; no second renewal"
