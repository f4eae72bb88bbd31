"""Resumable blob uploads to the hub's tus 1.0 endpoint (creation, checksum extensions).

Each chunk carries ``Upload-Checksum: sha256 …``; the hub keeps a chunk only if it arrives
whole and matches, so a cut costs at most one (throughput-sized) chunk. The upload URL is
stored in the cache as soon as it exists, so after an app restart the upload continues from
the hub's ``Upload-Offset`` (HEAD) instead of starting again. The final SHA-256 is declared in
the metadata and checked by the hub before the blob becomes visible.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable

from app.sync.blobstore import BlobStore
from app.sync.errors import HubBadReply, HubError, HubOffline
from app.sync.hub_client import API, HubClient
from app.sync.transfer import ChunkSizer, monotonic, timeouts

log = logging.getLogger(__name__)

TUS = {"Tus-Resumable": "1.0.0"}


class UploadCancelled(Exception):
    """The engine is stopping."""


def _b64(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


class TusUploader:
    """Uploads one blob at a time through ``client`` (use one uploader per thread)."""

    def __init__(
        self,
        client: HubClient,
        blobs: BlobStore,
        sizer: ChunkSizer,
        stall_s: float = 30.0,
        stop: threading.Event | None = None,
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.client = client
        self.blobs = blobs
        self.sizer = sizer
        self.stall_s = stall_s
        self.stop = stop or threading.Event()
        self.on_progress = on_progress

    def _row(self, sha: str) -> tuple[int, str | None, str]:
        rows = self.blobs.cache.query(
            "SELECT size, upload_url, media_type FROM blobs WHERE sha256 = ?", (sha,)
        )
        if not rows:
            raise KeyError(sha)
        return int(rows[0][0]), rows[0][1], rows[0][2]

    def _save(self, sha: str, url: str | None, offset: int) -> None:
        with self.blobs.cache.transaction() as db:
            db.execute(
                "UPDATE blobs SET upload_url = ?, uploaded_bytes = ? WHERE sha256 = ?",
                (url, offset, sha),
            )

    def upload(self, sha: str) -> None:
        """Make sure the hub holds blob ``sha``; raises ``HubError`` on failures (retry)."""
        size, url, media_type = self._row(sha)
        t = timeouts(self.stall_s)
        if url is None:
            exists = self.client.authed("HEAD", f"{API}/blobs/{sha}", timeout=t)
            if exists.status_code == 200:
                self._done(sha, size)
                return
            url = self._create(sha, size, media_type)
        offset = self._offset(url, t)
        if offset is None:  # the hub forgot the upload (expired): start a new one
            url = self._create(sha, size, media_type)
            offset = 0
        if offset == -1:
            self._done(sha, size)
            return
        while offset < size:
            if self.stop.is_set():
                raise UploadCancelled()
            offset = self._patch(sha, url, offset, size, t)
            self._save(sha, url, offset)
            if self.on_progress:
                self.on_progress(sha, offset, size)
        if size == 0 or offset >= size:
            self._done(sha, size)

    def _create(self, sha: str, size: int, media_type: str) -> str:
        meta = f"sha256 {_b64(sha)},filetype {_b64(media_type)},filename {_b64(sha)}"
        response = self.client.authed(
            "POST",
            f"{API}/blobs/uploads",
            headers={**TUS, "Upload-Length": str(size), "Upload-Metadata": meta},
            timeout=timeouts(self.stall_s),
        )
        if response.status_code != 201 or "Location" not in response.headers:
            self.client.json_or_raise(response)
            raise HubBadReply(f"the hub did not create the upload ({response.status_code})")
        url = response.headers["Location"]
        self._save(sha, url, 0)
        return url

    def _offset(self, url: str, t: tuple[float, float]) -> int | None:
        """The hub's offset; None when the upload is gone; -1 when already complete."""
        response = self.client.authed("HEAD", _path(url), headers=TUS, timeout=t)
        if response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            self.client.json_or_raise(response)
            raise HubBadReply(f"unexpected reply {response.status_code} to HEAD")
        if response.headers.get("X-Blob-Sha256"):
            return -1
        return _int_header(response, "Upload-Offset")

    def _patch(self, sha: str, url: str, offset: int, size: int, t: tuple[float, float]) -> int:
        chunk = self.blobs.read_range(sha, offset, self.sizer.next_size())
        digest = hashlib.sha256(chunk).digest()
        started = monotonic()
        response = self.client.authed(
            "PATCH",
            _path(url),
            data=chunk,
            headers={
                **TUS,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": str(offset),
                "Upload-Checksum": f"sha256 {_b64(digest)}",
            },
            timeout=t,
        )
        if response.status_code == 204:
            self.sizer.meter.observe(len(chunk), monotonic() - started)
            new_offset = _int_header(response, "Upload-Offset")
            final = response.headers.get("X-Blob-Sha256")
            if final and final != sha:
                raise HubBadReply(f"the hub stored {final[:12]}… instead of {sha[:12]}…")
            return new_offset
        if response.status_code == 409:  # offset mismatch: the hub says where to go on
            header = response.headers.get("Upload-Offset")
            if header is not None and header.isdigit():
                return int(header)
            fresh = self._offset(url, t)
            if fresh is None or fresh == -1:
                return size if fresh == -1 else 0
            return fresh
        if response.status_code == 460:
            raise HubOffline("a chunk arrived damaged (checksum mismatch); it will be resent")
        if response.status_code in (404, 410):
            self._save(sha, None, 0)
            raise HubOffline("the hub discarded the unfinished upload; it will start again")
        self.client.json_or_raise(response)
        raise HubError(f"unexpected reply {response.status_code} to an upload chunk")

    def _done(self, sha: str, size: int) -> None:
        self.blobs.mark_uploaded(sha)
        if self.on_progress:
            self.on_progress(sha, size, size)


def _path(url: str) -> str:
    """The hub sends a path in Location; accept an absolute URL too."""
    if url.startswith("http"):
        return "/" + url.split("/", 3)[3]
    return url


def _int_header(response: object, name: str) -> int:
    value = getattr(response, "headers", {}).get(name)
    if value is None or not str(value).isdigit():
        raise HubBadReply(f"the hub's reply lacks a valid {name} header")
    return int(value)
