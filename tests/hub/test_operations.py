"""Running the hub as an operator would: the CLI, probes, JSON logs, graceful shutdown,
migrations from empty, the append-only audit trail, the embedded demo hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pydicom.data import get_testdata_file

from app.embedded_hub import DEMO_PASSWORD, start_embedded_hub
from hub import db as t
from hub.db import MIGRATIONS, Database
from tests.hub.conftest import BACKENDS, backend_url, make_patient, pull_all
from tests.support.hub_launcher import HubLauncher

REPO = Path(__file__).resolve().parents[2]


def hub_cli(data: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m hub <args>`` in a real child process."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args[:1], "--data", str(data), *args[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def hub_main(capsys, data: Path, *args: str) -> subprocess.CompletedProcess:
    """The same CLI entry point in this process (saves a 1.5 s interpreter start per call)."""
    from hub.__main__ import main

    code = main([*args[:1], "--data", str(data), *args[1:]])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def test_admin_cli_manages_accounts_and_lists_audit(tmp_path, capsys, monkeypatch):
    assert (
        hub_cli(
            tmp_path,
            "admin",
            "facility-add",
            "--id",
            "hetou",
            "--name",
            "河头乡卫生院",
            "--kind",
            "township_clinic",
        ).returncode
        == 0
    )
    r = hub_main(
        capsys, tmp_path, "admin", "facility-add", "--id", "x", "--name", "X", "--kind", "hospital"
    )
    assert r.returncode == 2 and "kind must be one of" in r.stderr
    r = hub_cli(
        tmp_path,
        "admin",
        "user-add",
        "--username",
        "li",
        "--name",
        "李医生",
        "--role",
        "clinic_doctor",
        "--facility",
        "hetou",
        env={"YIQIAO_HUB_PASSWORD": "first-pass-1"},
    )
    assert r.returncode == 0, r.stderr
    assert "河头乡卫生院" in hub_main(capsys, tmp_path, "admin", "facility-list").stdout
    assert "li" in hub_main(capsys, tmp_path, "admin", "user-list").stdout
    r = hub_main(
        capsys,
        tmp_path,
        "admin",
        "user-add",
        "--username",
        "li",
        "--name",
        "x",
        "--role",
        "clinic_doctor",
        "--facility",
        "hetou",
        "--password",
        "another-1",
    )
    assert r.returncode == 2 and "already exists" in r.stderr

    hub = _serve(tmp_path)
    url = hub.url
    try:
        login = {"username": "li", "password": "first-pass-1"}
        token = httpx.post(url + "/api/v1/auth/login", json=login).json()["access_token"]
        c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        pid = make_patient(c, "王秀英")
        pull_all(c, 0)
        assert (
            hub_main(
                capsys, tmp_path, "admin", "passwd", "li", "--password", "second-pass-2"
            ).returncode
            == 0
        )
        assert c.get("/api/v1/me").status_code == 401, "a password reset ends sessions"
        assert (
            httpx.post(
                url + "/api/v1/auth/login", json={**login, "password": "second-pass-2"}
            ).status_code
            == 200
        )
        assert hub_main(capsys, tmp_path, "admin", "disable", "li").returncode == 0
        r = httpx.post(url + "/api/v1/auth/login", json={**login, "password": "second-pass-2"})
        assert r.status_code == 403
    finally:
        hub.stop()
    audit = hub_cli(tmp_path, "admin", "audit", "--patient", pid).stdout.splitlines()
    actions = [line.split()[3] for line in audit]
    assert "write" in actions and "read" in actions and all(pid in line for line in audit)
    assert "127.0.0.1" in audit[0] and "王秀英" in audit[0], "the audit names the patient"


def _serve(data: Path, *extra: str) -> HubLauncher:
    return HubLauncher(data, *extra).start()


def test_probes_json_logs_and_graceful_shutdown_finishes_an_upload(tmp_path):
    hub = _serve(tmp_path, "--seed-demo")
    url = hub.url
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(url + "/readyz").json() == {"status": "ready"}
    token = httpx.post(
        url + "/api/v1/auth/login", json={"username": "doctor", "password": DEMO_PASSWORD}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    data = os.urandom(400_000)
    loc = httpx.post(
        url + "/api/v1/blobs/uploads", headers={**auth, "Upload-Length": str(len(data))}
    ).headers["Location"]
    result: dict = {}
    first_chunk_sent = threading.Event()

    def slow_body():
        for i in range(0, len(data), 40_000):
            if i:
                first_chunk_sent.set()  # the generator is asked for more once a chunk went
            yield data[i : i + 40_000]
            time.sleep(0.1)

    def upload() -> None:
        result["r"] = httpx.patch(
            url + loc,
            content=slow_body(),
            timeout=30,
            headers={
                **auth,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )

    th = threading.Thread(target=upload)
    th.start()
    assert first_chunk_sent.wait(60), "the PATCH never started"
    hub.terminate()
    th.join(30)
    _out, err = hub.wait(40)
    assert hub.returncode == 0
    assert result["r"].status_code == 204, "the in-flight write finished before the hub exited"
    sha = result["r"].headers["X-Blob-Sha256"]
    # Restarted, the blob is there and intact.
    hub = _serve(tmp_path)
    url = hub.url
    try:
        token = httpx.post(
            url + "/api/v1/auth/login", json={"username": "doctor", "password": DEMO_PASSWORD}
        ).json()["access_token"]
        got = httpx.get(f"{url}/api/v1/blobs/{sha}", headers={"Authorization": f"Bearer {token}"})
        assert got.content == data
    finally:
        hub.stop()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    reqs = [x for x in lines if x.get("logger") == "hub.request"]
    assert reqs and {"method", "path", "status", "ms", "ip", "user", "request_id"} <= set(reqs[0])
    assert any(x["path"].startswith("/api/v1/blobs/uploads/") and x["status"] == 204 for x in reqs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_from_empty_and_audit_is_append_only(tmp_path, backend):
    url = backend_url(backend, tmp_path) or f"sqlite:///{tmp_path}/m.db"
    db = Database(url)
    try:
        assert db.migrate() == MIGRATIONS[-1][0]
        assert db.migrate() == MIGRATIONS[-1][0], "running again changes nothing"
        with db.read() as conn:
            versions = conn.execute(sa.select(t.schema_version.c.version)).scalars().all()
        assert versions == [v for v, _ in MIGRATIONS]
        with db.write() as conn:
            conn.execute(
                t.audit.insert().values(at=1.0, user_id="u", username="u", ip="::1", action="read")
            )
        for stmt in (t.audit.update().values(action="nothing"), t.audit.delete()):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                with db.write() as conn:
                    conn.execute(stmt)
        with db.read() as conn:
            assert conn.execute(sa.select(t.audit.c.action)).scalars().all() == ["read"]
    finally:
        db.dispose()


def test_embedded_demo_hub(tmp_path):
    started = time.monotonic()
    hub = start_embedded_hub(tmp_path / "demo")
    try:
        first = time.monotonic() - started
        assert hub.is_running() and hub.url.startswith("http://127.0.0.1:")
        login = httpx.post(
            hub.url + "/api/v1/auth/login",
            json={"username": "doctor", "password": hub.credentials["doctor"]},
        )
        assert login.status_code == 200 and login.json()["user"]["facility_name"] == "青山镇卫生院"
        c = httpx.Client(
            base_url=hub.url, headers={"Authorization": f"Bearer {login.json()['access_token']}"}
        )
        docs, _ = pull_all(c, 0)
        names = {d["fields"].get("name") for d in docs if d["type"] == "patient"}
        assert {"王秀英", "李建国", "张桂兰", "刘强"} <= names
        statuses = {d["fields"]["status"] for d in docs if d["type"] == "consultation"}
        assert {"draft", "submitted", "scheduled", "reported"} <= statuses
        import io

        import pydicom

        original = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        entries = [b for d in docs if d["type"] == "attachment" for b in d["fields"]["blobs"]]
        (ct_entry,) = [b for b in entries if b["name"] == "CT_small.dcm"]
        blob = c.get(f"/api/v1/blobs/{ct_entry['sha256']}").content
        seeded = pydicom.dcmread(io.BytesIO(blob))
        # the image is the sample's, but it carries the demo patient's identity
        assert seeded.PixelData == original.PixelData
        assert str(seeded.PatientName) == "王秀英" and seeded.PatientID == "QS20260012"
        spec = httpx.post(
            hub.url + "/api/v1/auth/login", json={"username": "specialist", "password": "demo1234"}
        )
        assert spec.json()["user"]["role"] == "specialist"
    finally:
        hub.stop()
    assert not hub.is_running()
    # Second start: already seeded, no duplicate data, fast.
    started = time.monotonic()
    hub = start_embedded_hub(tmp_path / "demo")
    try:
        again = time.monotonic() - started
        token = httpx.post(
            hub.url + "/api/v1/auth/login", json={"username": "doctor", "password": "demo1234"}
        ).json()["access_token"]
        c = httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {token}"})
        assert len(pull_all(c, 0)[0]) == len(docs)
    finally:
        hub.stop()
    print(f"embedded hub ready: first run {first:.2f} s, second {again:.2f} s")
