"""Retry waits shared by the sync engine (HTTP retries) and the signaling socket (reconnects).

Stdlib only, so both Qt-free cores can use it without importing each other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential backoff: the n-th wait is capped at ``min(cap, base·2ⁿ)``.

    With ``jitter`` (the default) the wait is uniform in [ceiling/4, ceiling], so many
    clients retrying after one outage do not arrive together; without, it is the ceiling.
    """

    base_s: float = 1.0
    cap_s: float = 60.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)
    jitter: bool = True

    def next_delay(self) -> float:
        """The wait before the next retry (and count the attempt)."""
        ceiling = min(self.cap_s, self.base_s * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 30)
        return self.rng.uniform(ceiling / 4, ceiling) if self.jitter else ceiling

    def reset(self) -> None:
        """After a success."""
        self.attempt = 0
