"""Real hub servers on loopback (uvicorn in a thread) over SQLite and, when available, PostgreSQL.

PostgreSQL tests need ``YIQIAO_TEST_PG_DSN`` (``.ci/run`` starts Debian's cluster and sets
it); without a reachable server they are skipped with the reason shown.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from argon2 import PasswordHasher

from hub import accounts
from hub.app import create_app
from hub.config import HubConfig
from hub.server import uvicorn_config
from tests.support.hub_thread import serve_in_thread

PG_ENV = "YIQIAO_TEST_PG_DSN"
PASSWORD = "correct-horse-9"
# Same argon2id, cheaper parameters: the verify cost is part of the hash, so test sign-ins
# take milliseconds instead of 0.2 s each on a small CI machine.
PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)


@functools.cache
def pg_skip_reason() -> str | None:
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        return f"PostgreSQL tests skipped: set {PG_ENV}=postgresql://user:pass@127.0.0.1/db (.ci/run does)"
    try:
        from hub.db import normalize_url

        eng = sa.create_engine(normalize_url(dsn), connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        eng.dispose()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL tests skipped: {PG_ENV} is set but unreachable ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def fresh_pg_url() -> str:
    """The test DSN with an emptied ``public`` schema."""
    from hub.db import normalize_url

    url = normalize_url(os.environ[PG_ENV])
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    eng.dispose()
    return url


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """Say plainly, even under -q, when the PostgreSQL half of the hub tests did not run."""
    if pg_skip_reason.cache_info().currsize and pg_skip_reason():
        terminalreporter.write_line(f"hub: {pg_skip_reason()}", yellow=True)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def backend_url(backend: str, data_dir: Path) -> str:
    if backend == "sqlite":
        return ""
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    return fresh_pg_url()


class FakeClock:
    """A hub clock (``HubConfig.clock``) the test moves by hand instead of sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class LiveHub:
    """A hub app served by uvicorn on 127.0.0.1 in a background thread.

    In-process, not ``tests.support.hub_launcher``: these tests inject a clock through
    ``HubConfig`` and reach into ``app.state`` (the hub's database, its switchboard).
    """

    url: str
    app: object
    server: uvicorn.Server
    thread: threading.Thread
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # username → user id

    @property
    def state(self):  # noqa: ANN201
        return self.app.state.hub

    def client(self, username: str | None = None, **kw) -> httpx.Client:
        headers = dict(kw.pop("headers", {}))
        if username:
            headers["Authorization"] = f"Bearer {self.tokens[username]}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)

    def login(self, username: str, password: str = PASSWORD) -> dict:
        r = httpx.post(
            self.url + "/api/v1/auth/login",
            json={"username": username, "password": password},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        self.tokens[username] = body["access_token"]
        self.users[username] = body["user"]["id"]
        return body

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.state.db.dispose()


def start_live_hub(config: HubConfig) -> LiveHub:
    app = create_app(config)
    # The same uvicorn configuration as `hub serve` (header deadline, no proxy rewriting).
    url, server, thread = serve_in_thread(
        uvicorn_config(app, config, lifespan="off", timeout_graceful_shutdown=5),
        f"the test hub over {config.data_dir}",
    )
    return LiveHub(url=url, app=app, server=server, thread=thread)


# Facilities and people of the test network: username → (role, facility, department)
NETWORK_FACILITIES = {
    "clinic-a": ("青山镇卫生院", "township_clinic"),
    "clinic-b": ("河头乡卫生院", "township_clinic"),
    "county": ("东川县人民医院", "county_hospital"),
    "province": ("省远程医学中心", "provincial_center"),
}
NETWORK_USERS = {
    "doc_a": ("clinic_doctor", "clinic-a", "全科"),
    "doc_b": ("clinic_doctor", "clinic-b", "全科"),
    "radiologist": ("specialist", "county", "放射科"),
    "cardiologist": ("specialist", "county", "心内科"),
    "coord": ("coordinator", "county", "医务科"),
    "admin_a": ("admin", "clinic-a", ""),
    "prov_spec": ("specialist", "province", "放射科"),
}


def seed_network(hub: LiveHub) -> None:
    db = hub.state.db
    for fid, (name, kind) in NETWORK_FACILITIES.items():
        accounts.add_facility(db, fid, name, kind)
    for username, (role, fid, dept) in NETWORK_USERS.items():
        accounts.add_user(
            db, username, username.title(), role, fid, PASSWORD, dept, password_hash=PASSWORD_HASH
        )
        hub.login(username)


def make_hub(tmp: Path, backend: str, **cfg) -> LiveHub:
    url = backend_url(backend, tmp)
    return start_live_hub(HubConfig(data_dir=tmp, db_url=url, **cfg))


@pytest.fixture(scope="module", params=BACKENDS)
def net(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveHub]:
    """A live hub with the test network seeded and everyone signed in (one per module+backend)."""
    hub = make_hub(
        tmp_path_factory.mktemp("hub"),
        request.param,
        facility_quota=50 * 1024 * 1024,
        max_blob_size=20 * 1024 * 1024,
    )
    try:
        seed_network(hub)
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def sqlite_hub(tmp_path: Path) -> Iterator[LiveHub]:
    """A fresh live hub on SQLite with the network (for tests that change global state)."""
    hub = start_live_hub(
        HubConfig(
            data_dir=tmp_path,
            facility_quota=200_000,
            max_blob_size=100_000,
            login_max_failures=3,
            login_max_delay=2,
        )
    )
    try:
        seed_network(hub)
        yield hub
    finally:
        hub.stop()


def new_id() -> str:
    return str(uuid.uuid4())


def change(doc_id: str, doc_type: str, fields: dict, base_rev: int = 0, **kw) -> dict:
    """A wire Change as JSON."""
    return {
        "change_id": new_id(),
        "id": doc_id,
        "type": doc_type,
        "base_rev": base_rev,
        "fields": fields,
        **kw,
    }


def push(client: httpx.Client, *changes: dict) -> list[dict]:
    r = client.post("/api/v1/sync/push", json={"changes": list(changes)})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def pull_all(client: httpx.Client, since: int = 0, limit: int = 500) -> tuple[list[dict], int]:
    docs: list[dict] = []
    cursor = since
    while True:
        r = client.get("/api/v1/sync/pull", params={"since": cursor, "limit": limit})
        assert r.status_code == 200, r.text
        body = r.json()
        docs.extend(body["changes"])
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return docs, cursor


def make_patient(client: httpx.Client, name: str = "王秀英") -> str:
    pid = new_id()
    (res,) = push(client, change(pid, "patient", {"name": name, "sex": "F"}))
    assert res["status"] == "applied", res
    return pid


def upload_blob(client: httpx.Client, data: bytes) -> str:
    """Upload ``data`` by tus as the client's user; returns its SHA-256."""
    tus = {"Tus-Resumable": "1.0.0"}
    loc = client.post(
        "/api/v1/blobs/uploads", headers={**tus, "Upload-Length": str(len(data))}
    ).headers["Location"]
    r = client.patch(
        loc,
        content=data,
        headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert r.status_code == 204, r.text
    return r.headers["X-Blob-Sha256"]


def consent(client: httpx.Client) -> dict:
    """Complete informed consent (a scan uploaded by ``client``'s user) for a request."""
    data = b"%PDF-1.4 signed consent form " + client.headers["Authorization"][-12:].encode()
    sha = upload_blob(client, data)
    return {
        "given_by": "patient",
        "signer_name": "王秀英",
        "signed_at": "2026-11-20T09:00:00+08:00",
        "scan": {"sha256": sha, "name": "consent.pdf", "media_type": "application/pdf"},
    }


def make_consultation(client: httpx.Client, patient_id: str, **fields) -> str:
    """A submitted consultation (with consent) unless ``status`` says otherwise."""
    cid = new_id()
    body = {
        "status": "submitted",
        "reason": "会诊",
        "purpose": "明确诊断",
        "consultation_type": "video",
        "target_facility_id": "county",
        "department": "放射科",
        **fields,
    }
    if body["status"] != "draft" and "consent" not in body:
        body["consent"] = consent(client)
    (res,) = push(client, change(cid, "consultation", body, patient_id=patient_id))
    assert res["status"] == "applied", res
    return cid
