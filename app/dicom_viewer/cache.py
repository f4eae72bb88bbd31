"""Decoded frames held in an LRU budget derived from physical RAM; visible frames pinned.

Evicted frames are simply decoded again when next needed (the index keeps their location).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np


def default_budget_bytes(fraction: float = 0.25, floor: int = 256 << 20) -> int:
    """A share of physical RAM for decoded pixels (Weasis uses about half of free heap)."""
    try:
        import psutil

        total = int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001 - psutil missing or failing: assume a small 4 GB PC
        total = 4 << 30
    return max(floor, int(total * fraction))


class FrameCache:
    """Thread-safe LRU of numpy frames bounded by bytes; pinned keys are never evicted."""

    def __init__(self, budget_bytes: int | None = None) -> None:
        self.budget = budget_bytes if budget_bytes is not None else default_budget_bytes()
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._pinned: set[Hashable] = set()
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    @property
    def used_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            arr = self._items.get(key)
            if arr is not None:
                self._items.move_to_end(key)
            return arr

    def put(self, key: Hashable, arr: np.ndarray) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = arr
            self._bytes += arr.nbytes
            self._evict()

    def pin(self, keys: set[Hashable]) -> None:
        """Replace the pinned set (the frames currently on screen)."""
        with self._lock:
            self._pinned = set(keys)

    def would_fit(self, nbytes: int) -> bool:
        """True if adding ``nbytes`` more stays within the budget without evicting."""
        return self._bytes + nbytes <= self.budget

    def _evict(self) -> None:
        if self._bytes <= self.budget:
            return
        for key in list(self._items):
            if self._bytes <= self.budget:
                break
            if key in self._pinned:
                continue
            self._bytes -= self._items.pop(key).nbytes
            self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
