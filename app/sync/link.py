"""Is the hub reachable right now? One answer from every hint, quickly.

Hints: the signaling WebSocket opening or closing (a stopped hub closes it at once), the
outcome of any request a ``HubClient`` makes (sync, sign-in, health probes), and the health
probe the UI runs on :meth:`HubLink.probe_interval`: every second while offline, so the hub's
return is seen within a few seconds; every 4 s while online without a live WebSocket; every
20 s while the WebSocket is up (its close is the faster signal then). Qt-free; thread-safe;
listeners are called from whichever thread reported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

ONLINE, OFFLINE, UNKNOWN = "online", "offline", "unknown"

OFFLINE_PROBE_S = 1.0
ONLINE_PROBE_S = 4.0
WATCHED_PROBE_S = 20.0


class HubLink:
    """The hub's reachability as last reported; listeners hear every change."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.state = UNKNOWN
        self.websocket_up = False
        self.changed_at = clock()
        self.reason = ""
        self._listeners: list[Callable[[str], None]] = []

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(state)`` on every change of state."""
        self._listeners.append(listener)

    def report(self, ok: bool, source: str = "request") -> None:
        """A request (or probe) reached the hub (``ok``) or could not."""
        new = ONLINE if ok else OFFLINE
        with self._lock:
            if new == self.state:
                return
            self.state, self.reason, self.changed_at = new, source, self._clock()
        for listener in list(self._listeners):
            listener(new)

    def websocket(self, up: bool) -> None:
        """The signaling WebSocket opened (``up``) or closed."""
        self.websocket_up = up
        self.report(up, "websocket")

    def probe_interval(self) -> float:
        """Seconds until the next health probe should run."""
        if self.state != ONLINE:
            return OFFLINE_PROBE_S
        return WATCHED_PROBE_S if self.websocket_up else ONLINE_PROBE_S
