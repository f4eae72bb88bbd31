"""Concurrent PATCHes on one tus upload: the second is refused with 409 while the first is
being written — also when the two requests reach different hub processes (finding 5)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.config import HubConfig
from tests.hub.conftest import BACKENDS, LiveHub, backend_url, seed_network, start_live_hub
from tests.support.wait import wait_until

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = {"Content-Type": "application/offset+octet-stream"}


@pytest.fixture(params=BACKENDS)
def two_hubs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveHub, LiveHub]]:
    """Two hub processes' worth of apps on one database and one blob directory."""
    url = backend_url(request.param, tmp_path)
    a = start_live_hub(HubConfig(data_dir=tmp_path, db_url=url))
    b = start_live_hub(HubConfig(data_dir=tmp_path, db_url=url))
    try:
        seed_network(a)
        b.tokens, b.users = a.tokens, a.users
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_second_concurrent_patch_is_refused_and_nothing_mixes(two_hubs):
    a, b = two_hubs
    first, second = os.urandom(200_000), os.urandom(200_000)
    ca, cb = a.client("doc_a"), b.client("doc_a")
    # No declared SHA-256, as tus-js-client and tuspy send: nothing but the lock keeps
    # the two bodies apart.
    r = ca.post("/api/v1/blobs/uploads", headers={**TUS, "Upload-Length": str(len(first))})
    assert r.status_code == 201, r.text
    loc = r.headers["Location"]
    upload_file = a.state.config.upload_dir / loc.rsplit("/", 1)[1]
    gate = threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield first[:50_000]
        gate.wait(60)
        yield first[50_000:]

    replies: dict[str, httpx.Response] = {}

    def send_first() -> None:
        replies["first"] = ca.patch(
            loc, content=slow_body(), headers={**TUS, **OFFSET_STREAM, "Upload-Offset": "0"}
        )

    sender = threading.Thread(target=send_first)
    sender.start()
    try:
        wait_until(lambda: upload_file.stat().st_size > 0, 30, "the first chunk to start arriving")
        # The same upload through the other hub process, while the first is mid-body.
        r = cb.patch(
            loc,
            content=second,
            headers={**TUS, **OFFSET_STREAM, "Upload-Offset": "0"},
            timeout=15,
        )
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "upload_busy"
        assert r.headers["Tus-Resumable"] == "1.0.0"
    finally:
        gate.set()
        sender.join(60)
    assert replies["first"].status_code == 204, replies["first"].text
    sha = replies["first"].headers["X-Blob-Sha256"]
    assert sha == hashlib.sha256(first).hexdigest(), "the blob holds exactly the first body"
    assert cb.get(f"/api/v1/blobs/{sha}").content == first
    # The lease is gone with the request: the upload is complete, not busy.
    r = cb.patch(loc, content=b"x", headers={**TUS, **OFFSET_STREAM, "Upload-Offset": "0"})
    assert r.status_code == 409 and r.json()["error"] == "upload_complete"
