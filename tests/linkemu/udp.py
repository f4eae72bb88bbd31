"""UDP mode of the link emulator: WebRTC media between two peers on loopback, shaped.

How the emulator gets between two aiortc peers: every ICE candidate in an SDP is rewritten
(``rewrite_sdp``) to a relay socket the emulator owns, one relay per real endpoint. A
datagram that reaches relay R(X) (standing for endpoint X) from source S is shaped and then
sent to X *from* relay R(S). So each peer only ever talks to relay addresses, sees replies
coming from exactly the address it was given, and ICE pairs form as they would across a
real network: no TURN server, no NAT tricks, nothing in the peers changes except the SDP
they receive. (Each side's ICE is restricted to 127.0.0.1, see
``app.media.loopback``.)

Shaping reuses ``LinkProfile``/``Shaper`` from the TCP mode: per direction a bandwidth cap
(with a drop-tail queue of ``queue_ms``), one-way latency and jitter, random loss; plus
outages (everything dropped) started with ``outage(seconds)`` or ``set_down()``. A packet's
size on the wire counts 28 bytes of IP/UDP header. All in one thread with a selector and a
heap of scheduled deliveries, independent of the asyncio loops under test. ``clock``
(default ``time.monotonic``) is every "now" the emulator reads: a test that moves a manual
clock decides when held datagrams go out.
"""

from __future__ import annotations

import heapq
import itertools
import re
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.linkemu.profile import LinkProfile, Shaper

Address = tuple[str, int]
_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ udp \d+ )(\S+) (\d+)( typ .*)$", re.I | re.M)
IP_UDP_OVERHEAD = 28


@dataclass
class UdpLinkStats:
    """Counters per direction key ``"a->b"`` style (by relay port pairs) and overall."""

    forwarded: int = 0
    dropped_loss: int = 0
    dropped_queue: int = 0
    dropped_outage: int = 0
    delivered: int = 0  # sent on to the endpoint (forwarded ones go out when they are due)
    bytes_forwarded: int = 0
    per_direction: dict[tuple[Address, Address], int] = field(default_factory=dict)


class UdpLinkEmulator:
    """Relays UDP between endpoints through shaped links. Thread-safe public methods."""

    def __init__(
        self,
        profile: LinkProfile | None = None,
        queue_ms: float = 400.0,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.profile = profile or LinkProfile()
        self.clock = clock
        # (accepted at, due at, wire bytes) of the latest forwarded datagrams, oldest first.
        self.schedule: deque[tuple[float, float, int]] = deque(maxlen=4096)
        self.queue_ms = queue_ms
        self.host = host
        self.stats = UdpLinkStats()
        self._lock = threading.RLock()
        self._selector = selectors.DefaultSelector()
        self._relays: dict[Address, socket.socket] = {}  # real endpoint -> its relay socket
        self._behind: dict[int, Address] = {}  # relay port -> real endpoint
        self._shapers: dict[tuple[Address, Address], Shaper] = {}
        self._heap: list[tuple[float, int, socket.socket, bytes, Address]] = []
        self._seq = itertools.count()
        self._down_until = 0.0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._running = True
        self._thread = threading.Thread(target=self._run, name="udp-linkemu", daemon=True)
        self._thread.start()

    # ---- control ----------------------------------------------------------------------

    def relay_for(self, endpoint: Address) -> Address:
        """The relay address that stands for ``endpoint`` (created on first use)."""
        with self._lock:
            sock = self._relays.get(endpoint)
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind((self.host, 0))
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                self._relays[endpoint] = sock
                self._behind[sock.getsockname()[1]] = endpoint
                self._selector.register(sock, selectors.EVENT_READ)
                self._wake()
            return sock.getsockname()

    def rewrite_sdp(self, sdp: str) -> str:
        """Replace every candidate address in ``sdp`` by its relay (IPv4 UDP only)."""

        def swap(match: re.Match[str]) -> str:
            host, port = self.relay_for((match.group(2), int(match.group(3))))
            return f"{match.group(1)}{host} {port}{match.group(4)}"

        return _CANDIDATE.sub(swap, sdp)

    def set_profile(self, profile: LinkProfile) -> None:
        """Change the link from now on (fresh shapers; queued packets still go out)."""
        with self._lock:
            self.profile = profile
            self._shapers.clear()

    def outage(self, seconds: float) -> None:
        """Drop everything for ``seconds`` from now."""
        with self._lock:
            self._down_until = self.clock() + seconds

    def set_down(self, down: bool) -> None:
        """Start (``True``) or end an open-ended outage."""
        with self._lock:
            self._down_until = float("inf") if down else 0.0

    @property
    def down(self) -> bool:
        return self.clock() < self._down_until

    def close(self) -> None:
        """Stop the thread and close every relay socket."""
        self._running = False
        self._wake()
        self._thread.join(5)
        with self._lock:
            for sock in self._relays.values():
                sock.close()
            self._relays.clear()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> UdpLinkEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the relay thread -------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _run(self) -> None:
        while self._running:
            now = self.clock()
            timeout = 0.05
            if self._heap:
                timeout = max(0.0, min(timeout, self._heap[0][0] - now))
            for key, _ in self._selector.select(timeout):
                sock = key.fileobj
                if sock is self._wake_r:
                    try:
                        self._wake_r.recv(4096)
                    except OSError:
                        pass
                    continue
                self._drain(sock)  # type: ignore[arg-type]
            now = self.clock()
            while self._heap and self._heap[0][0] <= now:
                with self._lock:
                    _, _, out, data, dest = heapq.heappop(self._heap)
                    self.stats.delivered += 1
                try:
                    out.sendto(data, dest)
                except OSError:
                    pass

    def _drain(self, sock: socket.socket) -> None:
        while True:
            try:
                data, source = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._accept(sock, data, source)

    def _accept(self, sock: socket.socket, data: bytes, source: Address) -> None:
        now = self.clock()
        with self._lock:
            dest = self._behind.get(sock.getsockname()[1])
            if dest is None:
                return
            if now < self._down_until:
                self.stats.dropped_outage += 1
                return
            key = (source, dest)
            shaper = self._shapers.get(key)
            if shaper is None:
                shaper = self._shapers[key] = Shaper(self.profile, keep_order=True)
            if shaper.drop():
                self.stats.dropped_loss += 1
                return
            if self.profile.bandwidth_bps and shaper.backlog_s(now) * 1000 > self.queue_ms:
                self.stats.dropped_queue += 1
                return
            deliver_at = shaper.schedule(len(data) + IP_UDP_OVERHEAD, now)
            self.schedule.append((now, deliver_at, len(data) + IP_UDP_OVERHEAD))
            out = self._relays.get(source)
            if out is None:
                # Source seen for the first time (e.g. a new ICE socket): give it a relay.
                self.relay_for(source)
                out = self._relays[source]
            self.stats.forwarded += 1
            self.stats.bytes_forwarded += len(data)
            self.stats.per_direction[key] = self.stats.per_direction.get(key, 0) + len(data)
            heapq.heappush(self._heap, (deliver_at, next(self._seq), out, data, dest))
