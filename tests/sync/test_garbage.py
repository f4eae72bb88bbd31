"""Garbage from the server (bad JSON, 5xx, wrong shape, truncated body, wrong content length,
wrong blob bytes) is retried or shown as an error state; the cache is never corrupted."""

from __future__ import annotations

import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from app.protocol.sync import DocType
from app.sync.blobstore import BlobCorrupt
from app.sync.errors import HubBadReply, HubError, HubServerError
from tests.sync.hub_harness import make_client, sync_until_quiet


class GarbageProxy:
    """Forwards to the hub; the next queued fault for a matching path replaces the reply."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.faults: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length")
                }
                r = requests.request(
                    self.command,
                    proxy.target + self.path,
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                )
                content = r.content
                fault = next((f for f in proxy.faults if self.path.startswith(f[0])), None)
                status = r.status_code
                if fault is not None:
                    proxy.faults.remove(fault)
                    kind = fault[1]
                    if kind == "500":
                        status, content = 500, b'{"error":"boom","message":"internal"}'
                    elif kind == "bad_json":
                        content = b'{"results": [ {"change_id": '
                    elif kind == "wrong_shape":
                        content = b'{"unexpected": true}'
                    elif kind == "flip":
                        content = bytes([content[0] ^ 0xFF]) + content[1:]
                    elif kind in ("truncated", "wrong_length"):
                        self.send_response(status)
                        for k, v in r.headers.items():
                            if k.lower() not in (
                                "content-length",
                                "transfer-encoding",
                                "connection",
                                "content-encoding",
                            ):
                                self.send_header(k, v)
                        self.send_header("Content-Length", str(len(content) + 100))
                        self.end_headers()
                        self.wfile.write(
                            content[: len(content) // 2] if kind == "truncated" else content
                        )
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                self.send_response(status)
                for k, v in r.headers.items():
                    if k.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_HEAD = do_DELETE = do_OPTIONS = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("path", "kind", "error"),
    [
        ("/api/v1/sync/push", "500", HubServerError),
        ("/api/v1/sync/push", "bad_json", HubBadReply),
        ("/api/v1/sync/push", "wrong_shape", HubBadReply),
        ("/api/v1/sync/pull", "truncated", HubError),
        ("/api/v1/sync/pull", "wrong_length", HubError),
        ("/api/v1/sync/pull", "bad_json", HubBadReply),
    ],
)
def test_garbage_reply_is_an_error_state_and_cache_stays_sound(
    hub, tmp_path: Path, path, kind, error
) -> None:
    proxy = GarbageProxy(hub.url)
    client = make_client(tmp_path / "c", proxy.url, "doc1", stall_s=3)
    try:
        p = client.store.create(DocType.patient, {"name": "垃圾回复", "phone": kind})
        proxy.faults.append((path, kind))
        with pytest.raises(error) as info:
            client.engine.run_once()
        assert info.value.state in ("server_error", "offline")
        assert client.store.cache.query("PRAGMA quick_check")[0][0] == "ok"
        assert client.store.get(p.id).fields["phone"] == kind  # the local record is intact
        sync_until_quiet(client)  # the fault is gone: sync completes
        assert client.store.get(p.id).sync_state == "synced"
        assert client.engine.reconcile() is True
    finally:
        client.close()
        proxy.close()


def test_wrong_blob_bytes_are_refused_then_refetched(hub, tmp_path: Path) -> None:
    author = make_client(tmp_path / "a", hub.url, "doc1")
    data = os.urandom(50_000)
    sha = author.blobs.add_bytes(data)
    p = author.store.create(DocType.patient, {"name": "坏数据"})
    author.store.create(
        DocType.attachment,
        {"kind": "file", "blobs": [{"sha256": sha, "size": len(data)}]},
        patient_id=p.id,
    )
    sync_until_quiet(author)
    author.close()
    proxy = GarbageProxy(hub.url)
    reader = make_client(tmp_path / "r", proxy.url, "doc1")
    try:
        sync_until_quiet(reader)
        proxy.faults.append((f"/api/v1/blobs/{sha}", "flip"))
        reader.engine.request_blob(sha)
        with pytest.raises(BlobCorrupt):
            reader.engine.download_blobs()
        assert not reader.blobs.has(sha)  # nothing wrong was installed
        reader.engine.download_blobs()
        assert reader.blobs.read_bytes(sha) == data
    finally:
        reader.close()
        proxy.close()


@pytest.mark.parametrize("kind", ["bad_json", "wrong_shape", "500"])
def test_garbage_blob_status_reply_uploads_nothing_wrongly(hub, tmp_path: Path, kind) -> None:
    proxy = GarbageProxy(hub.url)
    client = make_client(tmp_path / "c", proxy.url, "doc1", stall_s=3)
    try:
        data = os.urandom(30_000)
        sha = client.blobs.add_bytes(data)
        proxy.faults.append(("/api/v1/blobs/status", kind))
        with pytest.raises((HubBadReply, HubServerError)):
            client.engine.upload_blobs()
        assert (
            client.blobs.cache.query("SELECT state FROM blobs WHERE sha256 = ?", (sha,))[0][0]
            == "upload_pending"
        )
        client.engine.upload_blobs()  # the fault is gone
        assert (
            client.blobs.cache.query("SELECT state FROM blobs WHERE sha256 = ?", (sha,))[0][0]
            == "uploaded"
        )
        assert client.hub.authed("GET", f"/api/v1/blobs/{sha}").content == data
    finally:
        client.close()
        proxy.close()
