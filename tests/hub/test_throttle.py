"""Sign-in throttling (finding 7): counted atomically in the database across hub processes,
per account without a lock-out a stranger can impose, per address without locking out a
clinic behind one NAT address, and forwarded addresses believed only from configured proxies.
The hub's clock is injected: no test waits in real time."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hub import db as t
from hub.config import HubConfig
from tests.hub.conftest import (
    BACKENDS,
    PASSWORD,
    FakeClock,
    LiveHub,
    backend_url,
    make_hub,
    seed_network,
    start_live_hub,
)


def _login(hub: LiveHub, username: str, password: str, via: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": via} if via else {}
    return httpx.post(
        hub.url + "/api/v1/auth/login",
        json={"username": username, "password": password},
        headers=headers,
        timeout=60,
    )


@pytest.fixture(params=BACKENDS)
def two_hubs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveHub, LiveHub]]:
    url, clock = backend_url(request.param, tmp_path), FakeClock()
    a = start_live_hub(HubConfig(data_dir=tmp_path, db_url=url, clock=clock))
    b = start_live_hub(HubConfig(data_dir=tmp_path, db_url=url, clock=clock))
    try:
        seed_network(a)
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_sixty_concurrent_guesses_across_two_processes_get_five_password_checks(two_hubs):
    a, b = two_hubs
    hubs = [a, b] * 30
    with ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(lambda h: _login(h, "doc_a", "guess-wrong").status_code, hubs))
    assert codes.count(401) == a.state.config.login_max_failures, codes
    assert codes.count(429) == len(codes) - codes.count(401)


@pytest.fixture
def proxied_hub(tmp_path: Path) -> Iterator[tuple[LiveHub, FakeClock]]:
    """A hub behind a (simulated) proxy on loopback, with its clock in the test's hands."""
    clock = FakeClock()
    hub = make_hub(tmp_path, "sqlite", trusted_proxies=("127.0.0.1",), clock=clock)
    try:
        seed_network(hub)
        yield hub, clock
    finally:
        hub.stop()


def test_a_stranger_can_delay_a_named_user_briefly_but_never_lock_them_out(proxied_hub):
    hub, clock = proxied_hub
    cap = hub.state.config.login_max_delay
    stranger, doctor = "203.0.113.9", "198.51.100.7"
    for _ in range(40):  # the stranger keeps guessing whenever the hub lets them
        r = _login(hub, "doc_a", "guess-wrong", via=stranger)
        if r.status_code == 429:
            wait = int(r.headers["Retry-After"])
            assert 1 <= wait <= cap, "a delay, never a long lockout"
            clock.now += wait
        else:
            assert r.status_code == 401
    r = _login(hub, "doc_a", PASSWORD, via=doctor)
    if r.status_code == 429:  # at worst the doctor waits the short delay
        assert int(r.headers["Retry-After"]) <= cap
        clock.now += int(r.headers["Retry-After"])
        r = _login(hub, "doc_a", PASSWORD, via=doctor)
    assert r.status_code == 200, r.text


def test_one_doctor_mistyping_does_not_lock_out_the_clinic_behind_one_nat_address(proxied_hub):
    hub, _clock = proxied_hub
    clinic_nat = "198.51.100.20"
    for _ in range(hub.state.config.login_max_failures + 5):
        assert _login(hub, "doc_a", "mistyped", via=clinic_nat).status_code in (401, 429)
    r = _login(hub, "doc_b", PASSWORD, via=clinic_nat)
    assert r.status_code == 200, "a colleague at the same address signs in at once"


def test_forwarded_for_from_a_client_that_is_no_proxy_is_ignored(tmp_path):
    # Trusts no proxy; the clock stands still, so the address's first delay has not passed.
    hub = make_hub(tmp_path, "sqlite", login_max_failures_per_address=3, clock=FakeClock())
    try:
        seed_network(hub)
        codes = [
            _login(hub, f"nobody{i}", "guess", via=f"192.0.2.{i}").status_code for i in range(5)
        ]
        assert codes == [401, 401, 401, 429, 429], "a forged X-Forwarded-For is no new address"
        with hub.state.db.read() as conn:
            ips = set(
                conn.execute(
                    sa.select(t.audit.c.ip).where(t.audit.c.action.like("login%"))
                ).scalars()
            )
        assert ips == {"127.0.0.1"}, "the audit names the real peer"
    finally:
        hub.stop()


def test_a_trusted_proxy_hop_list_is_read_from_the_right(proxied_hub):
    hub, _clock = proxied_hub
    # The client wrote a fake first hop; our proxy appended the real address after it.
    _login(hub, "nobody", "guess", via="10.9.9.9, 198.51.100.33")
    with hub.state.db.read() as conn:
        ip = conn.execute(
            sa.select(t.audit.c.ip)
            .where(t.audit.c.action == "login_failed", t.audit.c.username == "nobody")
            .order_by(t.audit.c.id.desc())
        ).scalar()
    assert ip == "198.51.100.33"
