"""Schemathesis fuzzes the live hub from its OpenAPI spec with every check (no 5xx, responses
and headers as declared, valid requests accepted, invalid ones refused) — on SQLite and
PostgreSQL. Bounded in time (``--max-time``); the 5-minute run is bench/hub_fuzz.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from bench.hub_fuzz import st_command
from hub.config import HubConfig
from hub.demo import DEMO_PASSWORD, seed_demo
from tests.hub.conftest import BACKENDS, backend_url, start_live_hub

FUZZ_SECONDS = int(os.environ.get("YIQIAO_FUZZ_SECONDS", "25"))


@pytest.fixture(params=BACKENDS)
def demo_hub(request: pytest.FixtureRequest, tmp_path: Path):
    hub = start_live_hub(HubConfig(data_dir=tmp_path, db_url=backend_url(request.param, tmp_path)))
    seed_demo(hub.state)
    try:
        yield hub
    finally:
        hub.stop()


def test_schemathesis_finds_no_server_errors_or_schema_violations(demo_hub, tmp_path):
    token = httpx.post(
        demo_hub.url + "/api/v1/auth/login", json={"username": "doctor", "password": DEMO_PASSWORD}
    ).json()["access_token"]
    # The same command as bench/hub_fuzz.py (every check), for a short time budget.
    cmd = st_command(demo_hub.url, token, FUZZ_SECONDS, 20261122, tmp_path / "report")
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    tail = proc.stdout[-6000:]
    assert proc.returncode == 0, f"schemathesis found problems:\n{tail}\n{proc.stderr[-2000:]}"
    assert "passed" in tail and "5xx" not in tail
