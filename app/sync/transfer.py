"""Pieces shared by uploads and downloads: chunk sizing from measured throughput, backoff
with jitter, and the stall-timeout rule.

A total timeout kills big files on slow links (OpenSRP #315); a stall timeout only fires when
no byte has moved for ``stall_s`` seconds, however long the transfer takes. With ``requests``
this is the read timeout, which applies to every blocking socket operation, sends included.
"""

from __future__ import annotations

import random
import threading
import time
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
            self.bytes_per_s = rate if not self.bytes_per_s else (
                self.alpha * rate + (1 - self.alpha) * self.bytes_per_s
            )


@dataclass
class ChunkSizer:
    """Chunk size that takes about ``target_s`` at the measured rate (64 KiB – 4 MiB).

    Small chunks on a slow link bound what a dropped connection costs (a chunk with a
    checksum that does not arrive whole is discarded by the hub); large chunks on a fast link
    keep per-request overhead low.
    """

    target_s: float = 0.5
    minimum: int = MIN_CHUNK
    maximum: int = MAX_CHUNK
    meter: ThroughputMeter = field(default_factory=ThroughputMeter)

    def next_size(self) -> int:
        """Bytes for the next chunk."""
        if not self.meter.bytes_per_s:
            return self.minimum
        size = int(self.meter.bytes_per_s * self.target_s)
        return max(self.minimum, min(self.maximum, size))


@dataclass
class Backoff:
    """Exponential backoff with full jitter: wait uniform(0, min(cap, base·2ⁿ))."""

    base_s: float = 1.0
    cap_s: float = 60.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """The wait before the next retry (and count the attempt)."""
        ceiling = min(self.cap_s, self.base_s * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 30)
        return self.rng.uniform(ceiling / 4, ceiling)

    def reset(self) -> None:
        """After a success."""
        self.attempt = 0


def timeouts(stall_s: float, connect_s: float = 15.0) -> tuple[float, float]:
    """``requests`` timeout tuple: connect limit, then the stall limit for every read/send."""
    return (min(connect_s, stall_s), stall_s)


def monotonic() -> float:
    """Clock for rates (never wall time)."""
    return time.monotonic()
