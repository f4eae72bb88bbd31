"""Send what a set-aside cache still owes the hub, then retire it.

When the keyring's key no longer opens ``cache.db`` the session sets the file (and the
``blobs`` folder encrypted with the same keyring's blob key) aside as
``*.unreadable-<stamp>`` and starts afresh. Its keys are still in ``cache.db.keywrap`` under
the user's password (:mod:`app.sync.keywrap`). At the next sign-in with that password a
:class:`Recovery` opens the old file, pushes its outbox and uploads its pending blobs with
the *same* change ids (the hub answers a repeated change id with its stored result, so
nothing is duplicated even if some changes had gone out before the key was lost) and only
when nothing is left renames the files ``*.recovered-<stamp>`` so they are never opened again.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.backoff import Backoff
from app.sync import blobstore as bs
from app.sync.blobstore import BlobStore
from app.sync.cache import Cache
from app.sync.engine import SyncEngine
from app.sync.errors import HubError, LoginRefused
from app.sync.keywrap import WRAP_SUFFIX, KeyWrapUnreadable, unwrap_keys, wrap_path
from app.sync.store import RecordStore

log = logging.getLogger(__name__)

_SIDE_FILES = ("", "-wal", "-shm", ".keycheck", WRAP_SUFFIX)
_UNREADABLE = re.compile(r"^cache\.db\.unreadable-(\d{8}-\d{6}(?:-\d+)?)$")


@dataclass(frozen=True)
class Notice:
    """Something the user should read about their local records (worded by the UI)."""

    code: str  # cache_set_aside | recovering | recovery_wrong_password | recovery_no_key |
    # recovered | recovery_refused | blob_key_restored | blob_key_lost | blob_files_restored
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SetAside:
    """A cache file (and its blob folder) that the keyring's keys could not open."""

    db_path: Path
    blobs_dir: Path
    stamp: str


def blobs_aside_name(stamp: str) -> str:
    """The blob folder's name when it is set aside with the cache of ``stamp``."""
    return f"blobs.unreadable-{stamp}"


def find_set_aside(folder: Path) -> list[SetAside]:
    """Set-aside caches in a profile folder, oldest first."""
    found = []
    for path in sorted(folder.glob("cache.db.unreadable-*")):
        m = _UNREADABLE.match(path.name)
        if m:
            found.append(SetAside(path, folder / blobs_aside_name(m.group(1)), m.group(1)))
    return found


def open_set_aside(item: SetAside, password: str) -> dict[str, bytes] | None | str:
    """The keys of a set-aside cache: a dict, None for a wrong password, or "no_key" when
    there is no (readable) key file (a cache made before key files existed, or damaged)."""
    path = wrap_path(item.db_path)
    if not path.exists():
        return "no_key"
    try:
        return unwrap_keys(path, password)
    except (KeyWrapUnreadable, OSError) as exc:
        log.error("key file of %s unusable: %s", item.db_path.name, exc)
        return "no_key"


class Recovery:
    """Pushes one set-aside cache's outbox and pending blobs on its own thread, then retires
    it. ``on_finished(notice)`` is called from that thread."""

    def __init__(
        self,
        item: SetAside,
        keys: dict[str, bytes],
        user_id: str,
        facility_id: str,
        client: Any,
        backoff: Backoff | None = None,
    ) -> None:
        self.item = item
        self.cache = Cache(item.db_path, keys["cache"])
        self.blobs = BlobStore(item.blobs_dir, keys["blob"], self.cache, 1 << 62)
        self.store = RecordStore(self.cache, user_id, facility_id)
        self.engine = SyncEngine(self.store, self.blobs, client, backoff=backoff)
        self.on_finished: Callable[[Notice], None] | None = None
        self.retired_as: Path | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._docs_at_start, self._blobs_at_start = self.remaining()

    def remaining(self) -> tuple[int, int]:
        """(changes in the outbox, blobs waiting to be uploaded)."""
        blobs = self.cache.query(
            "SELECT count(*) FROM blobs WHERE state = ? AND present = 1", (bs.UPLOAD_PENDING,)
        )[0][0]
        return self.store.outbox_size(), int(blobs)

    def notice(self) -> Notice:
        """What the user is told when recovery starts."""
        docs, blobs = self.remaining()
        return Notice("recovering", {"docs": docs, "files": blobs})

    def run_once(self) -> bool:
        """Push what is owed (raises ``HubError`` on failure); True when nothing is left."""
        self.engine.push_documents()
        self.engine.upload_blobs()
        self.engine.push_documents()
        # Anything still owed (e.g. an attachment whose file is missing on disk) keeps the
        # file set aside: it is retried at every sign-in rather than dropped.
        return self.remaining() == (0, 0)

    def retire(self) -> Path:
        """Close the old cache and rename its files ``*.recovered-<stamp>`` (kept, never opened
        again). Only after everything owed has reached the hub."""
        self.cache.close()
        target = self.item.db_path.with_name(f"cache.db.recovered-{self.item.stamp}")
        for suffix in _SIDE_FILES:
            source = self.item.db_path.with_name(self.item.db_path.name + suffix)
            if source.exists():
                source.rename(target.with_name(target.name + suffix))
        if self.item.blobs_dir.exists():
            self.item.blobs_dir.rename(
                self.item.blobs_dir.with_name(f"blobs.recovered-{self.item.stamp}")
            )
        self.retired_as = target
        return target

    def rejected(self) -> int:
        """Records of the old file the hub refused (kept in the retired file, named in the log)."""
        return int(
            self.cache.query("SELECT count(*) FROM documents WHERE sync_error IS NOT NULL")[0][0]
        )

    # -- the thread ------------------------------------------------------------------------
    def start(self) -> None:
        """Work on a background thread until done (then retire) or stopped."""
        self._thread = threading.Thread(target=self._run, name="yiqiao-recovery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop (the file stays set aside; the next sign-in continues)."""
        self._stop.set()
        self.engine.stop(timeout=0)
        if self._thread is not None:
            self._thread.join(timeout)
        if self.retired_as is None:
            self.cache.close()

    def wait(self, timeout: float) -> bool:
        """Block until the thread ended (tests); True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once():
                    rejected = self.rejected()
                    self.retire()
                    log.warning(
                        "recovered %s: %d changes and %d files sent, %d refused",
                        self.item.db_path.name,
                        self._docs_at_start,
                        self._blobs_at_start,
                        rejected,
                    )
                    if self.on_finished is not None:
                        self.on_finished(
                            Notice(
                                "recovered",
                                {
                                    "docs": self._docs_at_start,
                                    "files": self._blobs_at_start,
                                    "refused": rejected,
                                },
                            )
                        )
                    return
                delay = self.engine.backoff.next_delay()
            except LoginRefused:
                delay = 60.0
            except HubError as exc:
                delay = self.engine.backoff.next_delay()
                log.info("recovery push failed (%s); retry in %.1f s", exc, delay)
            except Exception:  # noqa: BLE001 - keep trying; never lose the file
                log.exception("recovery of %s failed", self.item.db_path.name)
                delay = max(5.0, self.engine.backoff.next_delay())
            self._stop.wait(delay)
