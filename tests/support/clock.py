"""A clock that moves only when a test moves it, for code that takes ``clock=``."""

from __future__ import annotations

import threading


class ManualClock:
    """Monotonic seconds that advance only through :meth:`advance`; thread-safe."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        with self._lock:
            self._now += seconds
