"""Hub configuration: where data lives and the limits a hospital may tune."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class HubConfig:
    """Everything ``create_app`` needs. Defaults suit a single-node clinic network."""

    data_dir: Path
    db_url: str = ""  # empty → sqlite:///<data_dir>/hub.db
    access_token_ttl: int = 15 * 60  # seconds
    refresh_token_ttl: int = 30 * 24 * 3600
    # Login throttling: after ``login_max_failures`` failures for one username (or one
    # address) within ``login_window`` seconds, further attempts get 429 for ``login_lockout``.
    login_max_failures: int = 5
    login_window: int = 15 * 60
    login_lockout: int = 60
    max_blob_size: int = 2 * 1024**3  # bytes per upload (Tus-Max-Size)
    facility_quota: int = 50 * 1024**3  # bytes of blobs per facility (0 = unlimited)
    upload_expiry: int = 24 * 3600  # unfinished tus uploads are discarded after this
    trusted_proxies: tuple[str, ...] = field(default_factory=lambda: ("127.0.0.1", "::1"))

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
