"""Sign-in, tokens, throttling, logout and disabling — over real HTTP."""

from __future__ import annotations

import httpx

from app.protocol.auth import ErrorBody, TokenPair
from hub import accounts, audit
from tests.hub.conftest import PASSWORD, FakeClock, make_hub, seed_network


def test_login_returns_tokens_and_user(net):
    r = httpx.post(net.url + "/api/v1/auth/login", json={"username": "doc_a", "password": PASSWORD})
    pair = TokenPair.model_validate(r.json())
    assert pair.user.facility_name == "青山镇卫生院" and pair.user.role == "clinic_doctor"
    assert 0 < pair.expires_in <= 3600
    me = httpx.get(net.url + "/api/v1/me", headers={"Authorization": f"Bearer {pair.access_token}"})
    assert me.status_code == 200 and me.json()["username"] == "doc_a"


def test_wrong_password_and_unknown_user_get_the_same_json_error(net):
    for user, pw in (("doc_a", "wrong-password"), ("nobody", "whatever1")):
        r = httpx.post(net.url + "/api/v1/auth/login", json={"username": user, "password": pw})
        assert r.status_code == 401
        assert ErrorBody.model_validate(r.json()).error == "invalid_credentials"


def test_missing_or_bad_token_is_401_with_a_reason(net):
    r = httpx.get(net.url + "/api/v1/me")
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"
    r = httpx.get(net.url + "/api/v1/me", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_refresh_rotates_and_logout_revokes(net):
    pair = net.login("doc_b")
    r = httpx.post(net.url + "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200
    new = r.json()
    # The old access token no longer works.
    old_access = httpx.get(
        net.url + "/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert old_access.status_code == 401
    auth = {"Authorization": f"Bearer {new['access_token']}"}
    assert httpx.post(net.url + "/api/v1/auth/logout", headers=auth).status_code == 204
    assert httpx.get(net.url + "/api/v1/me", headers=auth).status_code == 401
    r = httpx.post(net.url + "/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert r.status_code == 401
    net.login("doc_b")  # leave a working token for other tests


def test_repeated_failures_are_throttled_then_allowed_again(tmp_path):
    clock = FakeClock()
    hub = make_hub(tmp_path, "sqlite", login_max_failures=3, login_max_delay=2, clock=clock)
    try:
        seed_network(hub)
        url = hub.url + "/api/v1/auth/login"
        for _ in range(3):
            r = httpx.post(url, json={"username": "doc_a", "password": "bad-password"})
            assert r.status_code == 401
        r = httpx.post(url, json={"username": "doc_a", "password": PASSWORD})
        assert r.status_code == 429, "even the right password waits out the delay"
        assert r.json()["error"] == "too_many_attempts" and int(r.headers["Retry-After"]) >= 1
        clock.now += int(r.headers["Retry-After"])
        assert httpx.post(url, json={"username": "doc_a", "password": PASSWORD}).status_code == 200
    finally:
        hub.stop()


def test_a_replayed_refresh_token_ends_the_whole_session(net):
    first = net.login("doc_b")
    r = httpx.post(net.url + "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    # Someone presents the spent token again (a stolen copy): refused, and the session the
    # legitimate client went on with ends too.
    r = httpx.post(net.url + "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401 and r.json()["error"] == "invalid_refresh_token"
    auth = {"Authorization": f"Bearer {second['access_token']}"}
    assert httpx.get(net.url + "/api/v1/me", headers=auth).status_code == 401
    r = httpx.post(
        net.url + "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert r.status_code == 401
    with net.state.db.read() as conn:
        actions = [a.action for a in audit.query(conn, limit=20) if a.action.startswith("refresh")]
    assert "refresh_replayed" in actions
    net.login("doc_b")


def test_refreshing_never_keeps_a_session_past_its_maximum_life(tmp_path):
    clock = FakeClock()
    day = 24 * 3600
    hub = make_hub(tmp_path, "sqlite", clock=clock, refresh_token_ttl=30 * day)
    try:
        seed_network(hub)
        token, start = hub.login("doc_a")["refresh_token"], clock.now
        for _ in range(20):  # refresh every 20 days, each within the 30-day window
            clock.now += 20 * day
            r = httpx.post(hub.url + "/api/v1/auth/refresh", json={"refresh_token": token})
            if r.status_code != 200:
                break
            token = r.json()["refresh_token"]
        assert r.status_code == 401, "the session ended"
        assert clock.now - start <= hub.state.config.session_max_life + 20 * day
    finally:
        hub.stop()


def test_disabled_user_is_refused_at_once(sqlite_hub):
    auth = {"Authorization": f"Bearer {sqlite_hub.tokens['doc_b']}"}
    assert httpx.get(sqlite_hub.url + "/api/v1/me", headers=auth).status_code == 200
    accounts.set_disabled(sqlite_hub.state.db, "doc_b", True)
    assert httpx.get(sqlite_hub.url + "/api/v1/me", headers=auth).status_code == 401
    r = httpx.post(
        sqlite_hub.url + "/api/v1/auth/login", json={"username": "doc_b", "password": PASSWORD}
    )
    assert r.status_code == 403 and r.json()["error"] == "account_disabled"
    accounts.set_disabled(sqlite_hub.state.db, "doc_b", False)
    sqlite_hub.login("doc_b")


def test_password_reset_ends_sessions(sqlite_hub):
    auth = {"Authorization": f"Bearer {sqlite_hub.tokens['doc_a']}"}
    accounts.set_password(sqlite_hub.state.db, "doc_a", "another-pass-1")
    assert httpx.get(sqlite_hub.url + "/api/v1/me", headers=auth).status_code == 401
    sqlite_hub.login("doc_a", "another-pass-1")


def test_malformed_requests_get_json_errors_naming_the_problem(net):
    url = net.url + "/api/v1/auth/login"
    r = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    r = httpx.post(url, json={"username": "doc_a"})
    assert r.status_code == 422 and "password" in r.json()["message"]
    r = httpx.post(url, json={"username": "doc_a", "password": "x", "admin": True})
    assert r.status_code == 422 and "admin" in r.json()["message"]


def test_other_protocol_version_is_refused(net):
    r = httpx.get(net.url + "/api/v1/me", headers={"X-YiQiao-Protocol": "99"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_protocol"
    ok = httpx.get(net.url + "/healthz")
    assert ok.headers["X-YiQiao-Protocol"] == "1"
