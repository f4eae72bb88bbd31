"""How late the media loop runs: the stalls of a CPU starved by other processes.

On a modest clinic PC (or beside other work) the asyncio loop that reads and sends media is
descheduled for tens to hundreds of milliseconds. Packets that reached the socket meanwhile
are read in a burst afterwards and all look late, and packets we send then leave late: the
one-way delay measure (``app.media.arrival``) would read the loop's lateness as a queue on
the network, and the ladder would cut the call to audio only (docs/calls.md, "CPU
starvation"). A callback re-armed every ``TICK_S`` notices each stall once it is over; the
arrival meter leaves out what was read during or just after one, the far end is told how
long ours were (``media.loop_stall``, beside ``media.feedback``), and the ladder weighs a
queue against both ends' stalls and moves to fewer pixels when the loop is starved for long
(libwebrtc's answer to CPU overuse) instead of cutting the bitrate.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

TICK_S = 0.02
STALL_S = 0.04  # a tick later than this (beyond its interval) counts as a stall
# Packets read this long after a stall ends are still the socket's backlog (reading and
# handling a burst takes the starved loop a while too).
BACKLOG_S = 0.1
MEMORY_S = 30.0


class LoopLag:
    """Stalls of one event loop, seen by a ticking callback (or ``tick`` in tests)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self.stalls: deque[tuple[float, float]] = deque()  # (start, end), oldest first
        self._last_tick: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Tick on ``loop`` (the running one) until ``stop``."""
        loop = loop or asyncio.get_running_loop()

        def tick() -> None:
            self.tick(self._now())
            self._handle = loop.call_later(TICK_S, tick)

        self.stop()
        self._last_tick = None
        tick()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def tick(self, now: float) -> None:
        """The loop ran at ``now``; a gap since the last tick longer than due is a stall."""
        last = self._last_tick
        if last is not None and now - last > TICK_S + STALL_S:
            self.stalls.append((last + TICK_S, now))
        self._last_tick = now
        while self.stalls and now - self.stalls[0][1] > MEMORY_S:
            self.stalls.popleft()

    def suspect(self, t: float) -> bool:
        """Whether something read at ``t`` may have waited for the loop rather than the
        network: read during a stall, in the backlog after one, or while the loop has not
        ticked for longer than a stall (back from one the ticker has not seen yet)."""
        last = self._last_tick
        if last is not None and t - last > TICK_S + STALL_S:
            return True
        for start, end in reversed(self.stalls):
            if end + BACKLOG_S < t:
                return False  # older stalls ended earlier still
            if start <= t:
                return True
        return False

    def stalled_s(self, now: float, window: float = 1.0) -> float:
        """How much of the last ``window`` seconds the loop spent stalled."""
        total = 0.0
        for start, end in reversed(self.stalls):
            if end <= now - window:
                break
            total += min(end, now) - max(start, now - window)
        return max(0.0, total)

    def longest_s(self, now: float, window: float) -> float:
        """The longest stall that overlapped the last ``window`` seconds."""
        return max((e - s for s, e in self.stalls if e > now - window), default=0.0)
