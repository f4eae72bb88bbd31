"""What the receiver is doing right now, for the status bar and the inbox page.

Written by the receiver's association threads, read by whoever polls ``snapshot()`` (the GUI
on a timer): a poll takes one lock for microseconds, so a study arriving at full speed never
reaches into the GUI thread, and events can never pile up in a queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Transfer:
    """One association, as far as it got."""

    key: int
    calling_ae: str
    address: str
    started: float
    received: int = 0
    failed: int = 0
    bytes: int = 0
    patient_name: str = ""
    study_uids: tuple[str, ...] = ()
    last_error: str = ""
    state: str = "receiving"  # receiving | done | aborted | rejected


@dataclass
class ActivitySnapshot:
    """A consistent copy of the current state."""

    active: list[Transfer] = field(default_factory=list)
    recent: list[Transfer] = field(default_factory=list)
    total_received: int = 0
    total_failed: int = 0
    generation: int = 0  # grows on every change: pollers redraw only when it moved


class ReceiveActivity:
    """Thread-safe progress of incoming associations."""

    def __init__(self, clock: Callable[[], float] = time.time, keep_recent: int = 20) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._active: dict[int, Transfer] = {}
        self._recent: list[Transfer] = []
        self._keep = keep_recent
        self._received = 0
        self._failed = 0
        self._generation = 0

    def started(self, key: int, calling_ae: str, address: str) -> None:
        with self._lock:
            self._active[key] = Transfer(key, calling_ae, address, self._clock())
            self._generation += 1

    def stored(self, key: int, size: int, patient_name: str, study_uid: str) -> None:
        with self._lock:
            t = self._active.get(key)
            if t is None:
                return
            studies = t.study_uids if study_uid in t.study_uids else (*t.study_uids, study_uid)
            self._active[key] = replace(
                t,
                received=t.received + 1,
                bytes=t.bytes + size,
                patient_name=patient_name or t.patient_name,
                study_uids=studies,
            )
            self._received += 1
            self._generation += 1

    def failed(self, key: int, reason: str) -> None:
        with self._lock:
            t = self._active.get(key)
            if t is not None:
                self._active[key] = replace(t, failed=t.failed + 1, last_error=reason)
            self._failed += 1
            self._generation += 1

    def ended(self, key: int, state: str) -> None:
        with self._lock:
            t = self._active.pop(key, None)
            if t is None:
                return
            self._recent.insert(0, replace(t, state=state))
            del self._recent[self._keep :]
            self._generation += 1

    def rejected(self, calling_ae: str, address: str, reason: str) -> None:
        with self._lock:
            t = Transfer(0, calling_ae, address, self._clock(), last_error=reason, state="rejected")
            self._recent.insert(0, t)
            del self._recent[self._keep :]
            self._generation += 1

    def snapshot(self) -> ActivitySnapshot:
        with self._lock:
            return ActivitySnapshot(
                list(self._active.values()),
                list(self._recent),
                self._received,
                self._failed,
                self._generation,
            )
