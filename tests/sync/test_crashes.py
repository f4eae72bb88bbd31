"""The client killed (SIGKILL) mid-sync and restarted; the hub killed and restarted mid-sync:
nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from app.protocol.sync import DocType
from app.sync.hub_client import HubClient
from tests.linkemu import LinkEmulator, LinkProfile
from tests.support.wait import wait_until
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


def _run_until(cmd: list[str], env: dict, point: str) -> subprocess.Popen:
    """Start the worker and return once it says it is held at ``point``."""
    proc = subprocess.Popen(
        cmd + [point], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=120)
        except queue.Empty:
            proc.kill()
            raise AssertionError(f"the worker never reached {point}") from None
        assert line.strip() != "DONE", f"the worker finished before reaching {point}"
        if line.strip() == f"AT {point}":
            return proc


def _local(folder: Path, marker: str):  # noqa: ANN202
    from app.sync.cache import open_cache
    from app.sync.store import RecordStore

    store = RecordStore(open_cache(folder / "cache.db", b"k" * 32))
    mine = {d.id: d for d in store.list(include_deleted=True) if d.fields.get("marker") == marker}
    unsent = {str(c.id) for c in store.pending_changes()}
    store.cache.close()
    return mine, unsent


def test_client_killed_mid_write_mid_push_and_mid_upload_loses_nothing(hub, tmp_path: Path) -> None:
    folder = tmp_path / "killed"
    marker = "kill-mid-sync"
    # a slow link so an upload is long enough to be caught mid-way
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
    checker = HubClient(hub.url)
    checker.login("doc1", PASSWORD)

    def kill(proc: subprocess.Popen) -> None:
        proc.kill()
        proc.wait()

    # 1. mid-write: some records exist locally, the rest not yet
    kill(_run_until(cmd, env, "write"))
    mine, _ = _local(folder, marker)
    assert 0 < len(mine) < 64
    # 2. mid-push: the hub committed a batch the client never heard back about
    kill(_run_until(cmd, env, "push"))
    mine, unsent = _local(folder, marker)
    on_hub = {k for k, v in _hub_docs(hub.url).items() if v[1].get("marker") == marker}
    assert on_hub & unsent, "the kill landed after the hub applied the push, before the client"
    # 3. mid-upload, twice: part of a blob is on the hub
    for _ in range(2):
        kill(_run_until(cmd, env, "upload"))
        mine, _ = _local(folder, marker)
        shas = [b["sha256"] for d in mine.values() for b in d.fields.get("blobs", [])]
        status = checker.blob_status(shas)
        assert status is not None
        assert any(0 < b.offset and not b.present for b in status.blobs), "killed mid-upload"

    final = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    emu.stop()
    assert "DONE" in final.stdout, final.stderr[-2000:]

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

        def uploaded() -> int:
            row = client.blobs.cache.query(
                "SELECT uploaded_bytes FROM blobs WHERE sha256 = ?", (sha,)
            )
            return row[0][0] if row else 0

        # the first chunk is on the hub and the next one under way: kill the hub then
        wait_until(lambda: 0 < uploaded() < len(data), 120, "the first chunk on the hub")
        hub.kill()
        assert uploaded() < len(data), "the kill must land mid-upload"
        hub.start()

        def drained() -> bool:
            if client.store.outbox_size() or client.engine.status().bytes_remaining:
                client.engine.sync_now()
                return False
            return True

        wait_until(drained, 180, "the upload to resume and finish", poll=0.2)
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
