"""The client killed (SIGKILL) mid-sync and restarted; the hub killed and restarted mid-sync:
nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from app.protocol.sync import DocType
from app.sync.hub_client import HubClient
from tests.linkemu import LinkEmulator, LinkProfile
from tests.sync.hub_harness import PASSWORD, REPO, make_client, sync_until_quiet


def _hub_docs(url: str) -> dict[str, tuple[int, dict]]:
    client = HubClient(url)
    client.login("doc1", PASSWORD)
    out, cursor = {}, 0
    while True:
        page = client.pull(cursor, 1000)
        out.update({str(d.id): (d.rev, d.fields) for d in page.changes})
        cursor = page.next_cursor
        if not page.has_more:
            return out


def test_client_killed_at_random_points_loses_nothing(hub, tmp_path: Path) -> None:
    rng = random.Random(99)
    folder = tmp_path / "killed"
    marker = f"kill-{rng.random()}"
    # a slow link so kills land mid-upload and mid-push
    emu = LinkEmulator("127.0.0.1", hub.port, LinkProfile(latency_ms=10, bandwidth_bps=4e6))
    emu.start()
    cmd = [
        sys.executable,
        str(REPO / "tests" / "sync" / "kill_worker.py"),
        str(folder),
        f"http://127.0.0.1:{emu.port}",
        marker,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        time.sleep(rng.uniform(0.8, 2.0))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
    final = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    emu.stop()
    assert "DONE" in final.stdout, final.stderr[-2000:]
    assert kills >= 3

    from app.sync.cache import open_cache
    from app.sync.store import RecordStore

    store = RecordStore(open_cache(folder / "cache.db", b"k" * 32))
    local = {d.id: d for d in store.list(include_deleted=True) if d.fields.get("marker") == marker}
    assert len(local) == 60 + 4  # 60 notes and 4 attachments, each written exactly once
    assert store.outbox_size() == 0
    on_hub = {k: v for k, v in _hub_docs(hub.url).items() if v[1].get("marker") == marker}
    assert set(on_hub) == set(local)
    for doc_id, doc in local.items():
        assert on_hub[doc_id] == (1, doc.fields)  # created once, never applied twice
    checker = HubClient(hub.url)
    checker.login("doc1", PASSWORD)
    for doc in local.values():
        for blob in doc.fields.get("blobs", []):
            assert checker.authed("HEAD", f"/api/v1/blobs/{blob['sha256']}").status_code == 200


def test_hub_restart_mid_upload(hub, tmp_path: Path) -> None:
    emu = LinkEmulator("127.0.0.1", hub.port, LinkProfile(bandwidth_bps=4e6))
    emu.start()
    client = make_client(
        tmp_path / "c", f"http://127.0.0.1:{emu.port}", "doc1", stall_s=3, upload_streams=1
    )
    try:
        p = client.store.create(DocType.patient, {"name": "重启测试"})
        data = os.urandom(1_500_000)
        sha = client.blobs.add_bytes(data)
        att = client.store.create(
            DocType.attachment,
            {"kind": "file", "blobs": [{"sha256": sha, "size": len(data)}]},
            patient_id=p.id,
        )
        client.engine.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = client.blobs.cache.query(
                "SELECT uploaded_bytes FROM blobs WHERE sha256 = ?", (sha,)
            )
            if row and row[0][0] > 300_000:
                break
            time.sleep(0.05)
        hub.kill()
        time.sleep(0.5)
        hub.start()
        client.engine.sync_now()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            client.store.outbox_size() or client.engine.status().bytes_remaining
        ):
            time.sleep(0.1)
            client.engine.sync_now()
        client.engine.stop()
        assert client.store.outbox_size() == 0
        # resumed, not restarted: well under two full copies crossed the link
        assert emu.stats.up_bytes < 1.6 * len(data)
        checker = HubClient(hub.url)
        checker.login("doc1", PASSWORD)
        assert checker.authed("GET", f"/api/v1/blobs/{sha}").content == data
        assert _hub_docs(hub.url)[att.id][0] == 1
        sync_until_quiet(client)
    finally:
        client.close()
        emu.stop()
