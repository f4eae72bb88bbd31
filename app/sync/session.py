"""Per signed-in user: the encrypted cache, blob store, record store and sync engine.

``open_user_session`` is blocking (keyring, disk, one password key derivation): call it on a
worker thread. A cache that cannot be opened is set aside (kept, renamed) and a fresh one
started. With the sign-in password, the keys are also kept wrapped by it
(:mod:`app.sync.keywrap`) and set-aside caches are opened with it and their unsent work sent
(:mod:`app.sync.recovery`). ``notices`` say what happened (worded by the UI).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import paths
from app.sync.blobstore import BlobStore
from app.sync.cache import (
    CacheDamaged,
    CacheKeyWrong,
    CacheOpenError,
    blob_key,
    cache_key,
    open_cache,
    set_aside,
)
from app.sync.engine import SyncEngine
from app.sync.hints import HintListener
from app.sync.hub_client import HubClient
from app.sync.keywrap import KdfCost, keep_wrapped
from app.sync.recovery import (
    Notice,
    Recovery,
    SetAside,
    blobs_aside_name,
    find_set_aside,
    open_set_aside,
)
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
    notices: list[Notice] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)
    hints: HintListener | None = None  # the hub's sync.hint → pull at once

    def start(self, on_notice: Callable[[Notice], None] | None = None) -> None:
        """Start syncing, and sending what set-aside caches still owe the hub.
        ``on_notice`` hears (from a worker thread) when such a cache has been emptied."""
        self.engine.start()
        if self.hints is not None:
            self.hints.start()
        for recovery in self.recoveries:
            recovery.on_finished = on_notice
            recovery.start()

    def close(self) -> None:
        """Stop syncing and close the cache (on sign-out or exit)."""
        for recovery in self.recoveries:
            recovery.stop()
        if self.hints is not None:
            self.hints.stop()
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
    password: str | None = None,
    kdf_cost: KdfCost = KdfCost(),
) -> SyncSession:
    """Open (or create) the user's profile and an engine bound to ``client`` (signed in).

    ``password`` (the one just used to sign in, when known) keeps the keys wrapped by it and
    opens set-aside caches; without it they wait for the next sign-in with a password."""
    profile = profile_name(user.username, hub_url)
    folder = (data_dir or paths.user_data_dir()) / "profiles" / profile
    folder.mkdir(parents=True, exist_ok=True)
    db_path = folder / "cache.db"
    notices: list[Notice] = []
    keys = {"cache": cache_key(profile), "blob": blob_key(profile)}
    just_set_aside = ""
    try:
        cache = open_cache(db_path, keys["cache"])
    except CacheOpenError as exc:
        kept = set_aside(db_path)
        just_set_aside = kept.name
        stamp = kept.name.split(".unreadable-", 1)[1]
        if isinstance(exc, CacheKeyWrong) and (folder / "blobs").exists():
            # The blob files are under the same lost keyring's key: they go with the cache.
            (folder / "blobs").rename(folder / blobs_aside_name(stamp))
        reason = (
            "key_wrong"
            if isinstance(exc, CacheKeyWrong)
            else "damaged"
            if isinstance(exc, CacheDamaged)
            else "too_new"
        )
        notices.append(Notice("cache_set_aside", {"kept": str(kept), "reason": reason}))
        log.error("cache unusable, kept as %s: %s", kept.name, exc)
        cache = open_cache(db_path, keys["cache"])
    if password:
        keep_wrapped(db_path, password, keys, kdf_cost)
    blobs = BlobStore(folder / "blobs", keys["blob"], cache, budget_mb * 1024 * 1024)
    store = RecordStore(cache, user.id, user.facility_id)
    if on_tokens is not None:
        client.on_tokens = on_tokens
    engine = SyncEngine(store, blobs, client)
    recoveries = (
        _recoveries(folder, password, user, client, just_set_aside, notices) if password else []
    )
    hints = HintListener(
        hub_url,
        lambda: client.tokens.access_token if client.tokens else "",
        engine,
        ssl_context=client.ssl_context,
    )
    return SyncSession(profile, folder, store, blobs, engine, notices, recoveries, hints)


def _recoveries(
    folder: Path, password: str, user: Any, client: HubClient, just: str, notices: list[Notice]
) -> list[Recovery]:
    """Open every set-aside cache the password unlocks; tell about those it does not."""
    found: list[Recovery] = []
    for item in find_set_aside(folder):
        keys = open_set_aside(item, password)
        if keys is None:
            notices.append(Notice("recovery_wrong_password", {"kept": str(item.db_path)}))
            continue
        if keys == "no_key":
            if item.db_path.name == just:
                notices.append(Notice("recovery_no_key", {"kept": str(item.db_path)}))
            continue
        assert isinstance(keys, dict)
        recovery = _open_recovery(item, keys, user, client)
        if recovery is None:
            continue
        if recovery.remaining() == (0, 0):
            recovery.retire()  # nothing was owed: the fresh cache pulls the rest
            continue
        notices.append(recovery.notice())
        found.append(recovery)
    return found


def _open_recovery(item: SetAside, keys: dict, user: Any, client: HubClient) -> Recovery | None:
    try:
        return Recovery(item, keys, user.id, user.facility_id, client.clone())
    except CacheOpenError as exc:
        log.error("set-aside cache %s cannot be opened even with its keys: %s", item, exc)
        return None
