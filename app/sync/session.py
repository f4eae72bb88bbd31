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
from app.sync import blob_keycheck
from app.sync.blobstore import BlobStore
from app.sync.cache import (
    Cache,
    CacheDamaged,
    CacheKeyWrong,
    CacheOpenError,
    blob_key,
    cache_key,
    open_cache,
    put_back_blob_key,
    set_aside,
)
from app.sync.engine import SyncEngine
from app.sync.hints import HintListener
from app.sync.hub_client import HubClient
from app.sync.keywrap import KdfCost, PasswordKey, keep_wrapped_key, wrap_path, wrap_with
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
    # Derived from this sign-in's password (never the password itself): a cache opened with an
    # earlier password is re-wrapped under it, so the next sign-in continues on its own.
    password_key: PasswordKey | None = None

    def start(self, on_notice: Callable[[Notice], None] | None = None) -> None:
        """Start syncing, and sending what set-aside caches still owe the hub.
        ``on_notice`` hears (from a worker thread) when such a cache has been emptied."""
        self.engine.start()
        if self.hints is not None:
            self.hints.start()
        for recovery in self.recoveries:
            recovery.on_finished = on_notice
            recovery.start()

    def locked_away(self) -> list[SetAside]:
        """Set-aside caches no recovery of this session has opened (their key file wants an
        earlier password, or they have none)."""
        opened = {r.item.db_path for r in self.recoveries}
        return [item for item in find_set_aside(self.folder) if item.db_path not in opened]

    def needs_earlier_password(self) -> bool:
        """Something is kept that only an earlier password can open (unsent records or files)."""
        return bool(self.locked_away() or blob_keycheck.find_keylost(self.folder))

    def unlock_with_earlier_password(
        self,
        password: str,
        on_notice: Callable[[Notice], None] | None = None,
    ) -> list[Notice]:
        """The password was changed after the keyring lost its keys: try ``password`` (an
        earlier one) on every set-aside cache still locked; each one it opens starts sending
        its unsent work (then retires, as at sign-in). Returns what to tell the user:
        "recovering"/"recovered" per file opened, or one "recovery_wrong_password" when it
        opened none. Files stay where they are either way. Slow (a KDF per file): call it
        from a worker."""
        notices: list[Notice] = []
        wrong: list[SetAside] = []
        for item in self.locked_away():
            keys = open_set_aside(item, password)
            if keys is None:
                wrong.append(item)
                continue
            if not isinstance(keys, dict):
                continue  # no key file: no password can help (told at set-aside time)
            if self.password_key is not None:
                # Until its work is all sent, the next sign-in opens it with today's password.
                wrap_with(wrap_path(item.db_path), self.password_key, keys)
            recovery = _open_recovery(
                item, keys, self.store.user_id, self.store.facility_id or "", self.engine.client
            )
            if recovery is None:
                continue
            if recovery.remaining() == (0, 0):
                recovery.retire()
                notices.append(Notice("recovered", {"docs": 0, "files": 0, "refused": 0}))
                continue
            notices.append(recovery.notice())
            self.recoveries.append(recovery)
            recovery.on_finished = on_notice
            recovery.start()
        notices.extend(_restore_blobs(self.folder, password, self.blobs))
        if (wrong or blob_keycheck.find_keylost(self.folder)) and not notices:
            kept = wrong[0].db_path if wrong else blob_keycheck.find_keylost(self.folder)[0]
            notices.append(Notice("recovery_wrong_password", {"kept": str(kept)}))
        return notices

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
    keys["blob"] = _check_blob_key(folder, profile, cache, keys, password, notices)
    password_key = None
    if password:
        password_key = keep_wrapped_key(db_path, password, keys, kdf_cost)[1]
    blobs = BlobStore(folder / "blobs", keys["blob"], cache, budget_mb * 1024 * 1024)
    store = RecordStore(cache, user.id, user.facility_id)
    if on_tokens is not None:
        client.on_tokens = on_tokens
    engine = SyncEngine(store, blobs, client)
    recoveries = (
        _recoveries(folder, password, user, client, just_set_aside, notices) if password else []
    )
    if password:
        notices.extend(_restore_blobs(folder, password, blobs))
    hints = HintListener(
        hub_url,
        lambda: client.tokens.access_token if client.tokens else "",
        engine,
        ssl_context=client.ssl_context,
    )
    return SyncSession(
        profile, folder, store, blobs, engine, notices, recoveries, hints, password_key
    )


def _check_blob_key(
    folder: Path,
    profile: str,
    cache: Cache,
    keys: dict[str, bytes],
    password: str | None,
    notices: list[Notice],
) -> bytes:
    """The blob key to use: the keyring's when it opens the stored files; else the one in the
    password-wrapped copy (put back into the keyring); else the keyring's new one, with the
    old files set aside and the user told which ones (:mod:`app.sync.blob_key`)."""
    fits = blob_keycheck.key_fits(cache, folder / "blobs", keys["blob"])
    if fits is False:
        wrap = wrap_path(folder / "cache.db")
        found = (
            blob_keycheck.key_from_wrap(wrap, password, keys["cache"], cache, folder / "blobs")
            if password
            else None
        )
        if found is not None:
            put_back_blob_key(profile, found)
            log.warning("the keyring had lost the blob key; restored from the key file")
            notices.append(Notice("blob_key_restored"))
            blob_keycheck.remember(cache, found)
            return found
        lost = blob_keycheck.affected(cache)
        kept = blob_keycheck.set_aside(folder, cache, wrap)
        log.error("blob key lost: %d stored files set aside as %s", len(lost), kept.name)
        notices.append(
            Notice(
                "blob_key_lost",
                {
                    "kept": str(kept),
                    "waiting": [
                        {"patient": f.patient, "title": f.title or f.sha256[:12]}
                        for f in lost
                        if not f.on_hub
                    ],
                    "on_hub": sum(1 for f in lost if f.on_hub),
                },
            )
        )
    blob_keycheck.remember(cache, keys["blob"])
    return keys["blob"]


def _restore_blobs(folder: Path, password: str, blobs: BlobStore) -> list[Notice]:
    """Files set aside for a lost blob key that ``password`` opens come back."""
    notices = []
    for kept in blob_keycheck.find_keylost(folder):
        result = blob_keycheck.restore_keylost(kept, password, blobs)
        if isinstance(result, int):
            log.warning("restored %d files from %s", result, kept.name)
            notices.append(Notice("blob_files_restored", {"files": result}))
    return notices


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
        recovery = _open_recovery(item, keys, user.id, user.facility_id, client)
        if recovery is None:
            continue
        if recovery.remaining() == (0, 0):
            recovery.retire()  # nothing was owed: the fresh cache pulls the rest
            continue
        notices.append(recovery.notice())
        found.append(recovery)
    return found


def _open_recovery(
    item: SetAside, keys: dict, user_id: str, facility_id: str, client: HubClient
) -> Recovery | None:
    try:
        return Recovery(item, keys, user_id, facility_id, client.clone())
    except CacheOpenError as exc:
        log.error("set-aside cache %s cannot be opened even with its keys: %s", item, exc)
        return None
