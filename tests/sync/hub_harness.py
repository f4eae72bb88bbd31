"""The real hub as a child process on loopback, with a few accounts, for sync tests and the
benchmark; plus a helper that builds a client profile (cache, blobs, store, engine)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from app.backoff import Backoff
from app.sync.blobstore import BlobStore
from app.sync.cache import open_cache
from app.sync.engine import SyncEngine
from app.sync.hub_client import HubClient
from app.sync.store import RecordStore
from tests.support.hub_launcher import HubLauncher

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-1"
USERS = {
    "doc1": ("clinic_doctor", "clinic-a"),
    "doc2": ("clinic_doctor", "clinic-a"),
}


def seed_accounts(data: Path) -> None:
    """Facilities and users (in-process, before the hub starts)."""
    from hub.accounts import add_facility, add_user
    from hub.config import HubConfig
    from hub.db import Database

    cfg = HubConfig(data_dir=data)
    db = Database(cfg.database_url)
    db.migrate()
    add_facility(db, "clinic-a", "青山镇卫生院", "township_clinic")
    add_facility(db, "clinic-b", "河西乡卫生院", "township_clinic")
    for username, (role, facility) in USERS.items():
        add_user(db, username, username.upper(), role, facility, PASSWORD)
    db.engine.dispose()


class HubProcess(HubLauncher):
    """The shared launcher over a folder seeded with this harness's accounts (restartable on
    the same port)."""

    def __init__(self, data: Path) -> None:
        data.mkdir(parents=True, exist_ok=True)
        if not (data / "hub.db").exists():
            seed_accounts(data)
        super().__init__(data, log_level="warning")


@dataclass
class Client:
    """One device: its own encrypted cache, blob store, record store and engine."""

    store: RecordStore
    blobs: BlobStore
    hub: HubClient
    engine: SyncEngine

    def close(self) -> None:
        self.engine.stop()
        self.store.cache.close()


def make_client(
    folder: Path,
    url: str,
    username: str = "doc1",
    *,
    stall_s: float = 5.0,
    budget: int = 1 << 30,
    key: bytes = b"k" * 32,
    login: bool = True,
    **engine_kw: object,
) -> Client:
    """A client profile in ``folder`` signed in to ``url`` as ``username``."""
    cache = open_cache(folder / "cache.db", key)
    blobs = BlobStore(folder / "blobs", b"b" * 32, cache, budget)
    hub = HubClient(url, timeout=stall_s)
    user_id, facility = "", ""
    if login:
        tokens = hub.login(username, PASSWORD)
        user_id, facility = tokens.user.id, tokens.user.facility_id
    store = RecordStore(cache, user_id, facility)
    params: dict[str, object] = {"stall_s": stall_s, "backoff": Backoff(0.01, 0.05)}
    params.update(engine_kw)
    engine = SyncEngine(store, blobs, hub, **params)  # type: ignore[arg-type]
    return Client(store, blobs, hub, engine)


def sync_until_quiet(client: Client, attempts: int = 60) -> int:
    """Run cycles until one succeeds with nothing left; return failed attempts."""
    from app.sync.errors import HubError

    failures = 0
    for _ in range(attempts):
        try:
            client.engine.run_once()
            if not client.store.outbox_size():
                return failures
        except HubError:
            failures += 1
            time.sleep(0.02)
    raise AssertionError(f"sync did not finish after {attempts} attempts")
