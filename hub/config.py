"""Hub configuration: where data lives and the limits a hospital may tune."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class HubConfig:
    """Everything ``create_app`` needs. Defaults suit a single-node clinic network."""

    data_dir: Path
    db_url: str = ""  # empty → sqlite:///<data_dir>/hub.db
    access_token_ttl: int = 15 * 60  # seconds
    refresh_token_ttl: int = 30 * 24 * 3600  # unused refresh tokens expire after this
    session_max_life: int = 90 * 24 * 3600  # refreshing never keeps a session longer
    # Sign-in throttling (hub/throttle.py): ``login_max_failures`` attempts per username and
    # ``login_max_failures_per_address`` per client address within ``login_window`` seconds
    # go at once; after that each attempt waits 1, 2, 4 … up to ``login_max_delay`` seconds.
    login_max_failures: int = 5
    login_max_failures_per_address: int = 50
    login_window: int = 15 * 60
    login_max_delay: int = 30
    max_blob_size: int = 2 * 1024**3  # bytes per upload (Tus-Max-Size)
    facility_quota: int = 50 * 1024**3  # bytes of blobs per facility (0 = unlimited)
    upload_expiry: int = 24 * 3600  # unfinished tus uploads are discarded after this
    # Addresses (or networks, "10.0.0.0/8") of reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto the hub believes; from anyone else these headers are ignored.
    trusted_proxies: tuple[str, ...] = ()
    header_timeout: float = 10.0  # a request's headers must arrive within this (slowloris)
    body_idle_timeout: float = 60.0  # a body may pause this long between reads
    clock: Callable[[], float] = time.time  # wall clock of throttling and sessions (tests inject)

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(Path(self.data_dir) / 'hub.db').as_posix()}"

    @property
    def blob_dir(self) -> Path:
        return Path(self.data_dir) / "blobs"

    @property
    def upload_dir(self) -> Path:
        return Path(self.data_dir) / "uploads"
