"""What the UI shows about sync, as plain values (Qt-free snapshots)."""

from __future__ import annotations

from dataclasses import dataclass

OFFLINE = "offline"
LOGIN_REFUSED = "login_refused"
TLS_UNTRUSTED = "tls_untrusted"
SERVER_ERROR = "server_error"
SYNCING = "syncing"
IDLE = "idle"
STATES = (OFFLINE, LOGIN_REFUSED, TLS_UNTRUSTED, SERVER_ERROR, SYNCING, IDLE)


@dataclass(frozen=True)
class SyncStatus:
    """The engine's state as a whole (for the status bar)."""

    state: str = IDLE
    message: str = ""  # the reason for an error state, in English (logged; UI translates state)
    docs_remaining: int = 0
    bytes_remaining: int = 0
    throughput_bps: float = 0.0  # bytes per second, recent
    last_success: float | None = None  # wall-clock time of the last complete sync
    conflicts: int = 0
    errors: int = 0  # documents the hub refused
    next_retry_s: float | None = None


@dataclass(frozen=True)
class ItemStatus:
    """One record's sync state: pending, uploading (with percent), synced, conflict, error."""

    state: str
    percent: int = 0
    reason: str = ""
