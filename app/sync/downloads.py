"""Blob downloads that resume with HTTP Range after a cut, into the encrypted store."""

from __future__ import annotations

import threading

import requests

from app.sync.blobstore import BlobStore
from app.sync.errors import HubBadReply, HubOffline
from app.sync.hub_client import API, HubClient
from app.sync.transfer import ThroughputMeter, monotonic, timeouts

_READ = 64 * 1024
_FLUSH_EVERY = 256 * 1024


def download_blob(
    client: HubClient,
    blobs: BlobStore,
    sha: str,
    stall_s: float = 30.0,
    stop: threading.Event | None = None,
    meter: ThroughputMeter | None = None,
) -> None:
    """Fetch blob ``sha`` from the hub (continuing a partial download); verify and install."""
    if blobs.has(sha):
        return
    offset = blobs.partial_size(sha)
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    response = client.authed(
        "GET", f"{API}/blobs/{sha}", headers=headers, stream=True, timeout=timeouts(stall_s)
    )
    try:
        if response.status_code == 416 and offset:
            blobs.finish_download(sha)  # we already had every byte
            return
        if response.status_code not in (200, 206):
            client.json_or_raise(response)
            raise HubBadReply(f"unexpected reply {response.status_code} to a blob download")
        if response.status_code == 200 and offset:
            blobs.partial_path(sha).unlink(missing_ok=True)  # the hub ignored Range: restart
            offset = 0
        if response.status_code == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {offset}-"):
                raise HubBadReply(f"the hub sent range {content_range!r} for offset {offset}")
        since_flush = 0
        started = monotonic()
        moved = 0
        with blobs.open_download(sha) as out:
            try:
                for block in response.iter_content(_READ):
                    if stop is not None and stop.is_set():
                        return
                    out.write(block)
                    moved += len(block)
                    since_flush += len(block)
                    if since_flush >= _FLUSH_EVERY:
                        out.flush()
                        since_flush = 0
            except (requests.exceptions.RequestException, OSError) as exc:
                raise HubOffline(f"the download was interrupted: {exc}") from exc
        if meter is not None:
            meter.observe(moved, monotonic() - started)
        blobs.finish_download(sha)
    finally:
        response.close()
