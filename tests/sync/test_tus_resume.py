"""Blob uploads through the link emulator against the real hub: on a resetting link a cut
mid-chunk costs nothing already received (the resume sends only the missing bytes), small
blobs take one request, and the hub's batched status replaces HEAD round trips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.sync.errors import HubOffline
from app.sync.hub_client import HubClient
from tests.linkemu import LinkEmulator, LinkProfile
from tests.sync.hub_harness import PASSWORD, make_client

HEADER_ALLOWANCE = 2048  # request line + headers of the few requests a resume needs


@pytest.fixture
def link(hub):
    emu = LinkEmulator("127.0.0.1", hub.port, LinkProfile(latency_ms=5, bandwidth_bps=16e6))
    emu.start()
    yield emu
    emu.stop()


def _hub_status(url: str, sha: str):
    checker = HubClient(url)
    checker.login("doc1", PASSWORD)
    reply = checker.blob_status([sha])
    assert reply is not None
    return reply.blobs[0]


def _count_requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record (method, path) of every request any HubClient sends (they still go out)."""
    seen: list[tuple[str, str]] = []
    real = HubClient.request

    def counting(self: HubClient, method: str, path: str, **kwargs: object):  # noqa: ANN202
        seen.append((method, path))
        return real(self, method, path, **kwargs)

    monkeypatch.setattr(HubClient, "request", counting)
    return seen


def test_cut_mid_chunk_on_resetting_link_resends_only_missing_bytes(
    hub, link, tmp_path: Path
) -> None:
    client = make_client(tmp_path / "c", f"http://127.0.0.1:{link.port}", "doc1", stall_s=5)
    try:
        data = os.urandom(1_500_000)
        sha = client.blobs.add_bytes(data)
        client.engine.health.note_reset()  # the link has been dropping: chunks go unchecksummed
        assert client.engine.health.chunk_checksums() is False
        link.cut_after(700_000, "up")
        with pytest.raises(HubOffline):
            client.engine.upload_blobs()
        delivered = link.stats.up_bytes
        local_url = client.blobs.cache.query(
            "SELECT upload_url FROM blobs WHERE sha256 = ?", (sha,)
        )[0][0]
        assert local_url, "the creation request completed: the cut came during a PATCH"
        kept = _hub_status(hub.url, sha)
        assert not kept.present and kept.upload_url is not None
        # Everything that reached the hub is kept but request headers and what the server had
        # read but not yet handed to the handler when the RST came (one 16 KiB read at most).
        assert delivered - 20_000 <= kept.offset <= delivered
        client.engine.upload_blobs()
        resent = link.stats.up_bytes - delivered
        missing = len(data) - kept.offset
        assert missing <= resent <= missing + HEADER_ALLOWANCE
        assert client.blobs.read_bytes(sha) == data
        got = _hub_status(hub.url, sha)
        assert got.present
        checker = HubClient(hub.url)
        checker.login("doc1", PASSWORD)
        assert checker.authed("GET", f"/api/v1/blobs/{sha}").content == data
    finally:
        client.close()


def test_cut_mid_chunk_on_healthy_link_loses_the_checksummed_chunk(
    hub, link, tmp_path: Path
) -> None:
    """The other side of the trade-off: a checksummed chunk is kept whole or not at all, and
    after the cut the link counts as resetting, so the rest goes without checksums."""
    from app.sync.transfer import LinkHealth
    from tests.support.clock import ManualClock

    client = make_client(tmp_path / "c", f"http://127.0.0.1:{link.port}", "doc1", stall_s=5)
    try:
        data = os.urandom(300_000)
        sha = client.blobs.add_bytes(data)
        clock = ManualClock()
        client.engine.health = LinkHealth(quiet_s=600, clock=clock)
        clock.advance(601)  # the link has proven itself
        assert client.engine.health.chunk_checksums() is True
        link.cut_after(40_000, "up")  # inside the first 64 KiB chunk
        with pytest.raises(HubOffline):
            client.engine.upload_blobs()
        assert _hub_status(hub.url, sha).offset == 0
        assert client.engine.health.chunk_checksums() is False
        assert client.engine._stream_count() == client.engine.resetting_link_streams
        client.engine.upload_blobs()
        assert _hub_status(hub.url, sha).present
    finally:
        client.close()


def test_small_blobs_take_one_request_each(hub, link, tmp_path: Path, monkeypatch) -> None:
    client = make_client(
        tmp_path / "c", f"http://127.0.0.1:{link.port}", "doc1", stall_s=5, upload_streams=1
    )
    try:
        blobs = [os.urandom(20_000 + i) for i in range(5)]
        shas = [client.blobs.add_bytes(b) for b in blobs]
        seen = _count_requests(monkeypatch)
        client.engine.upload_blobs()
        methods = [m for m, _ in seen]
        assert methods.count("POST") == 1 + len(blobs)  # one status query + one creation each
        assert "HEAD" not in methods and "PATCH" not in methods
        for sha in shas:
            assert _hub_status(hub.url, sha).present
        # Nothing left to do: a second pass sends nothing.
        seen.clear()
        client.engine.upload_blobs()
        assert seen == []
    finally:
        client.close()


def test_upload_whose_creation_reply_was_lost_is_found_and_resumed(
    hub, link, tmp_path: Path
) -> None:
    client = make_client(tmp_path / "c", f"http://127.0.0.1:{link.port}", "doc1", stall_s=5)
    try:
        data = os.urandom(900_000)
        sha = client.blobs.add_bytes(data)
        client.engine.health.note_reset()
        link.cut_after(500_000, "up")  # inside the creation request's body: no Location seen
        with pytest.raises(HubOffline):
            client.engine.upload_blobs()
        orphan = _hub_status(hub.url, sha)
        assert orphan.upload_url is not None and orphan.offset > 400_000
        before = link.stats.up_bytes
        client.engine.upload_blobs()
        assert link.stats.up_bytes - before <= len(data) - orphan.offset + HEADER_ALLOWANCE
        assert _hub_status(hub.url, sha).present
    finally:
        client.close()


def test_blob_status_answers_for_many_and_refuses_garbage(hub) -> None:
    checker = HubClient(hub.url)
    checker.login("doc1", PASSWORD)
    unknown = [f"{i:064x}" for i in range(300)]
    reply = checker.blob_status(unknown)
    assert reply is not None and [b.sha256 for b in reply.blobs] == unknown
    assert not any(b.present or b.upload_url for b in reply.blobs)
    bad = checker.authed("POST", "/api/v1/blobs/status", json={"sha256": ["not-a-sha"]})
    assert bad.status_code == 422


def test_link_that_keeps_dropping_is_retried_soon_while_it_makes_progress(
    hub, link, tmp_path: Path
) -> None:
    """Success of a whole cycle never comes on a link that drops more often than the upload
    takes, so progress (not success) must keep the backoff short."""
    from app.backoff import Backoff
    from app.protocol.sync import DocType
    from tests.support.wait import wait_until

    class RecordingBackoff(Backoff):
        def next_delay(self) -> float:
            grown_by.append(self.attempt)  # how many failures the wait was sized for
            return super().next_delay()

    grown_by: list[int] = []
    backoff = RecordingBackoff(base_s=2.0, cap_s=60.0)
    backoff.attempt = 6  # as after many failures: the next wait would be 15–60 s
    client = make_client(
        tmp_path / "c", f"http://127.0.0.1:{link.port}", "doc1", stall_s=5, backoff=backoff
    )
    try:
        data = os.urandom(1_200_000)
        sha = client.blobs.add_bytes(data)
        patient = client.store.create(DocType.patient, {"name": "断线重试"})
        client.store.create(
            DocType.attachment,
            {"kind": "file", "blobs": [{"sha256": sha, "size": len(data)}]},
            patient_id=patient.id,
        )
        client.engine.health.note_reset()
        link.cut_after(600_000, "up")
        client.engine.start()
        wait_until(lambda: client.store.outbox_size() == 0, 180, "the outbox to empty")
        # a cycle may still fail without moving bytes (and back off briefly), but never with
        # the long wait the earlier failures had grown: progress reset it
        assert all(n <= 2 for n in grown_by), f"backed off although bytes moved: {grown_by}"
        assert link.stats.resets == 1
        assert _hub_status(hub.url, sha).present
    finally:
        client.close()
