"""Per signed-in user: the encrypted cache, blob store, record store and sync engine.

``open_user_session`` is blocking (keyring, disk): call it on a worker thread. A cache that
cannot be opened is set aside (kept, renamed) and a fresh one started; ``notice`` says so.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import paths
from app.sync.blobstore import BlobStore
from app.sync.cache import CacheOpenError, blob_key, cache_key, open_cache, set_aside
from app.sync.engine import SyncEngine
from app.sync.hub_client import HubClient
from app.sync.store import RecordStore

log = logging.getLogger(__name__)


@dataclass
class SyncSession:
    """Everything sync-related for one user on one hub."""

    profile: str
    folder: Path
    store: RecordStore
    blobs: BlobStore
    engine: SyncEngine
    notice: str = ""  # e.g. "the old cache could not be opened and was kept as …"

    def close(self) -> None:
        """Stop syncing and close the cache (on sign-out or exit)."""
        self.engine.stop()
        self.store.cache.close()


def profile_name(username: str, hub_url: str) -> str:
    """A stable folder name for a user on a hub."""
    digest = hashlib.sha256(hub_url.encode()).hexdigest()[:10]
    return f"{username}-{digest}"


def open_user_session(
    user: Any,
    hub_url: str,
    client: HubClient,
    budget_mb: int = 2048,
    on_tokens: Callable[[Any], None] | None = None,
    data_dir: Path | None = None,
) -> SyncSession:
    """Open (or create) the user's profile and an engine bound to ``client`` (signed in)."""
    profile = profile_name(user.username, hub_url)
    folder = (data_dir or paths.user_data_dir()) / "profiles" / profile
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "cache.db"
    notice = ""
    try:
        cache = open_cache(db_path, cache_key(profile))
    except CacheOpenError as exc:
        kept = set_aside(db_path)
        notice = f"{exc} It was kept as {kept.name}; a fresh local copy is being downloaded."
        log.error("cache unusable: %s", exc)
        cache = open_cache(db_path, cache_key(profile))
    blobs = BlobStore(folder / "blobs", blob_key(profile), cache, budget_mb * 1024 * 1024)
    store = RecordStore(cache, user.id, user.facility_id)
    if on_tokens is not None:
        client.on_tokens = on_tokens
    engine = SyncEngine(store, blobs, client)
    return SyncSession(profile, folder, store, blobs, engine, notice)
