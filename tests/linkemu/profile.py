"""Transport-neutral link shaping: a profile (latency, jitter, bandwidth, scripted cuts) and a
shaper that turns "n bytes handed to the link at time t" into "delivered at time t'".

Shared by the TCP proxy (``tcp.py``) and the UDP mode (``udp.py``), so both reproduce the same
link the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["up", "down"]  # up: client -> server, down: server -> client


@dataclass(frozen=True)
class Cut:
    """A scripted failure once ``at_byte`` bytes have crossed the link in ``direction``.

    ``kind="reset"`` aborts every open connection with a TCP RST; ``kind="outage"`` also
    blackholes the link (open connections stall, new ones hang) for ``outage_s`` seconds.
    Byte offsets count over the emulator's lifetime, across connections.
    """

    at_byte: int
    direction: Direction = "up"
    kind: Literal["reset", "outage"] = "reset"
    outage_s: float = 0.0


@dataclass
class LinkProfile:
    """What the link looks like. Latency is one way (RTT = 2 × latency_ms)."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    bandwidth_bps: float | None = None  # per direction; None = unlimited
    cuts: list[Cut] = field(default_factory=list)
    loss: float = 0.0  # datagram loss probability (UDP mode only; TCP never loses bytes)
    seed: int | None = None

    @classmethod
    def rural(cls, **overrides: object) -> LinkProfile:
        """A typical township link: 300 ms RTT, 30 ms jitter, 2 Mbit/s."""
        values: dict[str, object] = {"latency_ms": 150, "jitter_ms": 30, "bandwidth_bps": 2e6}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


class Shaper:
    """One direction of a link: serialises bytes at the bandwidth, then adds latency + jitter.

    Delivery times never go backwards (a TCP stream is not reordered; the UDP mode may pass
    ``keep_order=False`` to let jitter reorder datagrams as real networks do).
    """

    def __init__(self, profile: LinkProfile, keep_order: bool = True) -> None:
        self.profile = profile
        self.keep_order = keep_order
        self._rng = random.Random(profile.seed)
        self._wire_free_at = 0.0
        self._last_delivery = 0.0

    def schedule(self, nbytes: int, now: float) -> float:
        """When ``nbytes`` handed over at ``now`` (monotonic seconds) arrive at the far end."""
        p = self.profile
        start = max(now, self._wire_free_at)
        if p.bandwidth_bps:
            self._wire_free_at = start + nbytes * 8.0 / p.bandwidth_bps
        else:
            self._wire_free_at = start
        delay = p.latency_ms / 1000.0
        if p.jitter_ms:
            delay += self._rng.uniform(0, p.jitter_ms / 1000.0)
        deliver = self._wire_free_at + delay
        if self.keep_order:
            deliver = max(deliver, self._last_delivery)
        self._last_delivery = max(self._last_delivery, deliver)
        return deliver

    def backlog_s(self, now: float) -> float:
        """How long the wire is busy with bytes already handed over (for back-pressure)."""
        return max(0.0, self._wire_free_at - now)

    def drop(self) -> bool:
        """Whether to lose the next datagram (UDP mode)."""
        return self.profile.loss > 0 and self._rng.random() < self.profile.loss
