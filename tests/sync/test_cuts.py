"""Connections cut at random byte offsets during push, pull and blob upload (hundreds of
trials through the link emulator): nothing is lost and nothing is applied twice."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from app.protocol.sync import DocType
from app.sync.hub_client import HubClient
from tests.linkemu import LinkEmulator, LinkProfile
from tests.sync.hub_harness import PASSWORD, make_client, sync_until_quiet

TRIALS = int(os.environ.get("YIQIAO_CUT_TRIALS", "100"))


@pytest.fixture
def link(hub):
    emu = LinkEmulator("127.0.0.1", hub.port, LinkProfile())
    emu.start()
    yield emu
    emu.stop()


def _hub_view(url: str, username: str) -> dict[str, tuple[int, dict]]:
    """Every document the hub holds for this user: id -> (rev, fields)."""
    client = HubClient(url)
    client.login(username, PASSWORD)
    out, cursor = {}, 0
    while True:
        page = client.pull(cursor, 1000)
        out.update({str(d.id): (d.rev, d.fields) for d in page.changes})
        cursor = page.next_cursor
        if not page.has_more:
            return out


def test_push_and_upload_survive_cuts_at_random_offsets(hub, link, tmp_path: Path) -> None:
    rng = random.Random(20261122)
    writer = make_client(tmp_path / "w", f"http://127.0.0.1:{link.port}", "doc1", stall_s=3)
    patient = writer.store.create(DocType.patient, {"name": "切断测试", "phone": "start"})
    sync_until_quiet(writer)
    expected_rev = writer.store.get(patient.id).rev
    expected: dict[str, dict] = {}
    blobs: dict[str, bytes] = {}
    retried = 0
    try:
        for trial in range(TRIALS):
            # one update of a synced record (must become exactly one new revision) ...
            writer.store.update(patient.id, {"phone": str(trial)})
            expected_rev += 1
            # ... a new note, and every third trial an attachment with a fresh blob
            note = writer.store.create(
                DocType.note, {"text": f"第{trial}次"}, patient_id=patient.id
            )
            expected[note.id] = note.fields
            if trial % 3 == 0:
                data = os.urandom(rng.randrange(1, 60_000))
                sha = writer.blobs.add_bytes(data)
                blobs[sha] = data
                att = writer.store.create(
                    DocType.attachment,
                    {"kind": "file", "blobs": [{"sha256": sha, "size": len(data)}]},
                    patient_id=patient.id,
                )
                expected[att.id] = att.fields
            link.cut_after(rng.randrange(0, 70_000 if trial % 3 == 0 else 4_000), "up")
            if rng.random() < 0.3:
                link.cut_after(rng.randrange(0, 3_000), "down")  # the reply lost instead
            retried += sync_until_quiet(writer)
            link.clear_cuts()
        assert link.stats.resets > TRIALS // 3, "the cuts must really have happened"
        assert retried > TRIALS // 4
        view = _hub_view(hub.url, "doc1")
        assert view[patient.id] == (expected_rev, {**patient.fields, "phone": str(TRIALS - 1)})
        for doc_id, fields in expected.items():
            rev, hub_fields = view[doc_id]
            assert rev == 1 and hub_fields == fields  # stored once, never applied twice
        checker = HubClient(hub.url)
        checker.login("doc1", PASSWORD)
        for sha, data in blobs.items():
            got = checker.authed("GET", f"/api/v1/blobs/{sha}").content
            assert got == data
        assert writer.engine.reconcile() is True
    finally:
        writer.close()


def test_pull_survives_cuts_at_random_offsets(hub, link, tmp_path: Path) -> None:
    rng = random.Random(7)
    author = make_client(tmp_path / "a", hub.url, "doc2")
    reader = make_client(
        tmp_path / "r", f"http://127.0.0.1:{link.port}", "doc2", stall_s=3, pull_limit=7
    )
    patient = author.store.create(DocType.patient, {"name": "拉取测试"})
    try:
        for trial in range(TRIALS):
            for i in range(rng.randrange(1, 12)):
                author.store.create(
                    DocType.note,
                    {"text": f"{trial}-{i} " + "字" * rng.randrange(0, 400)},
                    patient_id=patient.id,
                )
            if trial % 4 == 0:
                author.store.update(patient.id, {"phone": str(trial)})
            sync_until_quiet(author)
            link.cut_after(rng.randrange(0, 12_000), "down")
            sync_until_quiet(reader)
            link.clear_cuts()
            if trial % 20 == 0:
                assert reader.engine.reconcile() is True
        assert link.stats.resets > TRIALS // 3
        hub_view = _hub_view(hub.url, "doc2")
        mine = {d.id: (d.hub_rev, d.fields) for d in reader.store.list(include_deleted=True)}
        assert mine == hub_view
        assert reader.engine.reconcile() is True
    finally:
        author.close()
        reader.close()
