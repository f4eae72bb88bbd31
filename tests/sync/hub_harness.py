"""The real hub as a child process on loopback, with a few accounts, for sync tests and the
benchmark; plus a helper that builds a client profile (cache, blobs, store, engine)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from app.backoff import Backoff
from app.sync.blobstore import BlobStore
from app.sync.cache import open_cache
from app.sync.engine import SyncEngine
from app.sync.hub_client import HubClient
from app.sync.store import RecordStore

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


class HubProcess:
    """``python -m hub serve`` on 127.0.0.1 (restartable on the same port)."""

    def __init__(self, data: Path) -> None:
        self.data = data
        data.mkdir(parents=True, exist_ok=True)
        if not (data / "hub.db").exists():
            seed_accounts(data)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log = open(data / "hub.log", "ab")  # noqa: SIM115 - closed in stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HubProcess:
        port_file = self.data / "port"
        port_file.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "hub",
            "serve",
            "--data",
            str(self.data),
            "--port",
            str(self.port),
            "--port-file",
            str(port_file),
            "--log-level",
            "warning",
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        if self.log.closed:  # restarted after stop()
            self.log = open(self.data / "hub.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {(self.data / 'hub.log').read_text()[-2000:]}")
            if port_file.exists():
                self.port = int(port_file.read_text())
                try:
                    with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                        if r.status == 200:
                            return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("hub did not become ready")

    def kill(self) -> None:
        """Hard stop (SIGKILL): a crash mid-request."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


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
