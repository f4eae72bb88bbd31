"""Resumable blob uploads to the hub's tus 1.0 endpoint (creation, creation-with-upload,
checksum extensions).

Before uploading, the engine asks the hub about many blobs in one request
(``POST /blobs/status``): held already, or how far our unfinished upload of it got — so a
resume costs no HEAD, and an upload whose creation reply was lost is found again by its
declared SHA-256. A new upload carries its first chunk in the creation request
(creation-with-upload), so a blob that fits one chunk takes one round trip.

Chunk checksums follow ``LinkHealth``: on a healthy link each chunk carries
``Upload-Checksum: sha256`` and the hub keeps it only whole; on a resetting link chunks go
without one and the hub keeps every byte that arrived, so a resume sends only the missing
bytes. Either way the final SHA-256 is declared in the metadata and verified by the hub before
the blob becomes visible. The upload URL is stored in the cache as soon as it exists.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import requests

from app.sync.blobstore import BlobStore
from app.sync.errors import HubBadReply, HubError, HubOffline
from app.sync.hub_client import API, HubClient
from app.sync.transfer import ChunkSizer, LinkHealth, monotonic, timeouts

log = logging.getLogger(__name__)

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"
MIN_DRAIN_RATE = 8_000.0  # bytes/s assumed at worst when allowing for a chunk to drain


class UploadCancelled(Exception):
    """The engine is stopping."""


@dataclass(frozen=True)
class RemoteBlob:
    """What the hub said about a blob in a batched status query (this cycle)."""

    present: bool
    upload_url: str | None = None
    offset: int = 0


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
        *,
        health: LinkHealth | None = None,
        with_upload: bool = False,
    ) -> None:
        self.client = client
        self.blobs = blobs
        self.sizer = sizer
        self.stall_s = stall_s
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.health = health or LinkHealth()
        self.with_upload = with_upload  # the hub offers creation-with-upload

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

    def upload(self, sha: str, remote: RemoteBlob | None = None) -> None:
        """Make sure the hub holds blob ``sha``; raises ``HubError`` on failures (retry).

        ``remote`` is the hub's answer from this cycle's status query; without it (a hub that
        lacks ``/blobs/status``) the uploader asks with HEAD requests."""
        size, url, media_type = self._row(sha)
        t = timeouts(self.stall_s)
        offset = 0
        if remote is not None:
            if remote.present:
                self._done(sha, size)
                return
            url, offset = remote.upload_url, remote.offset
            if url is not None:
                self._save(sha, url, offset)
        elif url is None:
            exists = self._send("HEAD", f"{API}/blobs/{sha}", None, {}, t)
            if exists.status_code == 200:
                self._done(sha, size)
                return
        else:
            known = self._offset(url, t)
            if known == -1:
                self._done(sha, size)
                return
            if known is None:  # the hub forgot the upload (expired): start a new one
                url = None
            else:
                offset = known
        finished = False
        if url is None:
            url, offset, finished = self._create(sha, size, media_type, t)
        # Until the hub says it verified the blob (X-Blob-Sha256): a last empty PATCH at the
        # full offset asks it to finish an upload whose bytes all arrived but whose reply was lost.
        while not finished:
            if self.stop.is_set():
                raise UploadCancelled()
            offset, finished = self._patch(sha, url, offset, size, t)
            self._save(sha, url, offset)
            if self.on_progress:
                self.on_progress(sha, offset, size)
        self._done(sha, size)

    def _send(
        self,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict[str, str],
        t: tuple[float, float],
    ) -> requests.Response:
        try:
            return self.client.authed(method, path, data=data, headers=headers, timeout=t)
        except HubOffline:
            self.health.note_reset()
            raise

    def _with_drain(self, t: tuple[float, float], chunk: bytes) -> tuple[float, float]:
        """The stall limit plus time for the chunk to leave: the OS takes megabytes into its
        send buffer at once, so the reply can only come after they drained at the link's
        pace; counting that as a stall would abort healthy transfers on slow links."""
        rate = max(self.sizer.meter.bytes_per_s / 2, MIN_DRAIN_RATE)
        return t[0], t[1] + len(chunk) / rate

    def _chunk(self, sha: str, offset: int) -> tuple[bytes, dict[str, str]]:
        """The next chunk from ``offset`` and its headers (checksum if the link is healthy)."""
        checksummed = self.health.chunk_checksums()
        chunk = self.blobs.read_range(sha, offset, self.sizer.next_size(checksummed))
        headers = {"Content-Type": OFFSET_STREAM}
        if checksummed:
            headers["Upload-Checksum"] = f"sha256 {_b64(hashlib.sha256(chunk).digest())}"
        return chunk, headers

    def _create(
        self, sha: str, size: int, media_type: str, t: tuple[float, float]
    ) -> tuple[str, int, bool]:
        """A new upload, with its first chunk when the hub takes one.
        Returns (url, offset, finished)."""
        # No filename: the blob is named by its SHA-256 already (the hub audits that), and
        # every header byte is repeated for each blob on a slow link.
        meta = f"sha256 {_b64(sha)},filetype {_b64(media_type)}"
        headers = {**TUS, "Upload-Length": str(size), "Upload-Metadata": meta}
        chunk = b""
        if self.with_upload and size:
            chunk, chunk_headers = self._chunk(sha, 0)
            headers.update(chunk_headers)
        started = monotonic()
        response = self._send(
            "POST", f"{API}/blobs/uploads", chunk or None, headers, self._with_drain(t, chunk)
        )
        if response.status_code == 460:
            self.health.note_damaged()
            raise HubOffline(
                "the first chunk arrived damaged (checksum mismatch); it will be resent"
            )
        if response.status_code != 201 or "Location" not in response.headers:
            self.client.json_or_raise(response)
            raise HubBadReply(f"the hub did not create the upload ({response.status_code})")
        url = response.headers["Location"]
        offset = 0
        if chunk:
            self.sizer.meter.observe(len(chunk), monotonic() - started)
            offset = _int_header(response, "Upload-Offset")
            self._check_final(sha, response)
        self._save(sha, url, offset)
        if chunk and self.on_progress:
            self.on_progress(sha, offset, size)
        return url, offset, "X-Blob-Sha256" in response.headers

    def _offset(self, url: str, t: tuple[float, float]) -> int | None:
        """The hub's offset; None when the upload is gone; -1 when already complete."""
        response = self._send("HEAD", _path(url), None, TUS, t)
        if response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            self.client.json_or_raise(response)
            raise HubBadReply(f"unexpected reply {response.status_code} to HEAD")
        if response.headers.get("X-Blob-Sha256"):
            return -1
        return _int_header(response, "Upload-Offset")

    def _patch(
        self, sha: str, url: str, offset: int, size: int, t: tuple[float, float]
    ) -> tuple[int, bool]:
        """Send the next chunk; returns (the hub's offset, whether the blob is verified)."""
        chunk, headers = self._chunk(sha, offset)
        started = monotonic()
        response = self._send(
            "PATCH",
            _path(url),
            chunk,
            {**TUS, **headers, "Upload-Offset": str(offset)},
            self._with_drain(t, chunk),
        )
        if response.status_code == 204:
            self.sizer.meter.observe(len(chunk), monotonic() - started)
            self._check_final(sha, response)
            return _int_header(response, "Upload-Offset"), "X-Blob-Sha256" in response.headers
        if response.status_code == 409:  # offset mismatch: the hub says where to go on
            fresh = self._offset(url, t)
            if fresh is None:
                self._save(sha, None, 0)
                raise HubOffline("the hub discarded the unfinished upload; it will start again")
            return (size, True) if fresh == -1 else (fresh, False)
        if response.status_code == 460:
            self.health.note_damaged()
            raise HubOffline("an upload arrived damaged (checksum mismatch); it will be resent")
        if response.status_code in (404, 410):
            self._save(sha, None, 0)
            raise HubOffline("the hub discarded the unfinished upload; it will start again")
        self.client.json_or_raise(response)
        raise HubError(f"unexpected reply {response.status_code} to an upload chunk")

    def _check_final(self, sha: str, response: requests.Response) -> None:
        final = response.headers.get("X-Blob-Sha256")
        if final and final != sha:
            raise HubBadReply(f"the hub stored {final[:12]}… instead of {sha[:12]}…")

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
