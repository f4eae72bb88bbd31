"""Pieces shared by uploads and downloads: chunk sizing from measured throughput, backoff
with jitter, and the stall-timeout rule.

A total timeout kills big files on slow links (OpenSRP #315); a stall timeout only fires when
no byte has moved for ``stall_s`` seconds, however long the transfer takes. With ``requests``
this is the read timeout, which applies to every blocking socket operation, sends included.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MIN_CHUNK = 64 * 1024
MAX_CHUNK = 4 * 1024 * 1024


@dataclass
class ThroughputMeter:
    """Exponentially weighted throughput (bytes/s) over recent transfers."""

    alpha: float = 0.3
    bytes_per_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, nbytes: int, seconds: float) -> None:
        """Record ``nbytes`` moved in ``seconds``."""
        if nbytes <= 0 or seconds <= 0:
            return
        rate = nbytes / seconds
        with self._lock:
            self.bytes_per_s = (
                rate
                if not self.bytes_per_s
                else (self.alpha * rate + (1 - self.alpha) * self.bytes_per_s)
            )


@dataclass
class ChunkSizer:
    """Chunk size that takes about ``target_s`` at the measured per-stream rate.

    Checksummed chunks are short (0.5 s, 64 KiB – 4 MiB): the hub keeps such a chunk only
    if it arrives whole, so a dropped connection costs the chunk in flight. Unchecksummed
    chunks (a resetting link, see ``LinkHealth``) lose nothing when cut, so they are long
    (4 s, 256 KiB – 16 MiB): fewer requests, fewer round trips and header bytes; the bound
    keeps "stop" and progress reasonably prompt.
    """

    target_s: float = 0.5
    minimum: int = MIN_CHUNK
    maximum: int = MAX_CHUNK
    unverified_target_s: float = 4.0
    unverified_minimum: int = 256 * 1024
    unverified_maximum: int = 16 * 1024 * 1024
    meter: ThroughputMeter = field(default_factory=ThroughputMeter)

    def next_size(self, checksummed: bool = True) -> int:
        """Bytes for the next chunk."""
        if checksummed:
            target, low, high = self.target_s, self.minimum, self.maximum
        else:
            target, low, high = (
                self.unverified_target_s,
                self.unverified_minimum,
                self.unverified_maximum,
            )
        if not self.meter.bytes_per_s:
            return low
        return max(low, min(high, int(self.meter.bytes_per_s * target)))


@dataclass
class LinkHealth:
    """Whether upload chunks carry a per-chunk checksum, from what the link did lately.

    Proven healthy link (carried on for ``quiet_s`` without a reset): every chunk carries
    ``Upload-Checksum: sha256``, so a chunk damaged on the way is refused alone. Otherwise —
    after a reset, and at start before the link has proven itself — chunks go without one,
    because the hub can keep a checksummed chunk only whole: a cut throws away everything of it
    that arrived, and on a link that drops every few seconds that is much of the traffic.
    Integrity does not depend on it: the hub hashes the complete upload and the blob becomes
    visible only under its verified SHA-256 (a mismatch restarts it). After such a mismatch
    chunks are checksummed for ``quiet_s`` whatever the link does, to find damage chunk by chunk.
    """

    quiet_s: float = 600.0
    clock: Callable[[], float] = time.monotonic
    _since: float = field(init=False)  # start, or the last reset
    _last_reset: float | None = None
    _damaged_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._since = self.clock()

    def note_reset(self) -> None:
        """A connection broke while a request was under way."""
        with self._lock:
            self._last_reset = self._since = self.clock()

    def note_damaged(self) -> None:
        """The hub found a chunk or a finished upload not matching its checksum."""
        with self._lock:
            self._damaged_at = self.clock()

    def resetting(self) -> bool:
        """A connection broke within the last ``quiet_s``."""
        with self._lock:
            return self._last_reset is not None and self.clock() - self._last_reset < self.quiet_s

    def chunk_checksums(self) -> bool:
        """Whether the next chunk should carry ``Upload-Checksum``."""
        with self._lock:
            now = self.clock()
            if self._damaged_at is not None and now - self._damaged_at < self.quiet_s:
                return True
            return now - self._since >= self.quiet_s


def timeouts(stall_s: float, connect_s: float = 15.0) -> tuple[float, float]:
    """``requests`` timeout tuple: connect limit, then the stall limit for every read/send."""
    return (min(connect_s, stall_s), stall_s)


def monotonic() -> float:
    """Clock for rates (never wall time)."""
    return time.monotonic()
