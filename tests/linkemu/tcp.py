"""TCP mode of the link emulator: a loopback proxy that shapes and breaks connections.

Each accepted connection is paired with one to the target; bytes are carried in both
directions through a ``Shaper`` per direction (shared by all connections, as on a real link),
so latency, jitter and the bandwidth cap apply to the link as a whole. Scripted ``Cut``s fire
at exact byte offsets: the bytes before the offset are delivered, then every open connection
is aborted with an RST (and, for an outage, the link blackholes for a while). ``set_down``
makes the link refuse connections, which a client sees as "offline".

The proxy runs an asyncio loop on its own daemon thread; every public method is thread-safe.
``stats.chunks`` records, per chunk carried, when it was read, when the shaper made it due
and when it was handed on: tests check the schedule, not how long they waited.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass, field

from tests.linkemu.profile import Cut, Direction, LinkProfile, Shaper

_READ_SIZE = 16 * 1024
_MAX_BACKLOG_S = 0.1  # stop reading once the wire has this much queued (TCP back-pressure)


@dataclass
class LinkStats:
    """What crossed the link so far (bytes delivered to the far side)."""

    up_bytes: int = 0
    down_bytes: int = 0
    connections: int = 0
    resets: int = 0
    refused: int = 0
    cuts_fired: list[Cut] = field(default_factory=list)
    # The latest chunks carried, oldest first (times on the emulator's loop clock).
    chunks: deque[Chunk] = field(default_factory=lambda: deque(maxlen=4096))


@dataclass
class Chunk:
    """One read carried across the link."""

    direction: Direction
    size: int
    read_at: float
    due_at: float  # read_at plus the profile's latency, jitter and time on the capped wire
    sent_at: float | None = None  # handed to the far side (None: not yet, or cut)


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class _Connection:
    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.server: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        _abort_with_rst(self.client)
        if self.server is not None:
            _abort_with_rst(self.server)
        for task in self.tasks:
            task.cancel()


class LinkEmulator:
    """A shaped, breakable TCP proxy from 127.0.0.1:<port> to ``target_host:target_port``."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        profile: LinkProfile | None = None,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self.target = (target_host, target_port)
        self.listen = (listen_host, listen_port)
        self.profile = profile or LinkProfile()
        self.stats = LinkStats()
        self._cuts: list[Cut] = sorted(self.profile.cuts, key=lambda c: c.at_byte)
        self._shapers: dict[Direction, Shaper] = {}
        self._make_shapers()
        self._connections: set[_Connection] = set()
        self._down = False
        self._outage_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> int:
        """Start listening; returns the port clients should connect to."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._accept, *self.listen)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - reported to the caller of start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="linkemu-tcp", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        return self.port

    def stop(self) -> None:
        """Close the listener and every connection."""
        if self._loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self._connections):
                conn.abort()
            self._connections.clear()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = None

    def __enter__(self) -> LinkEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- control (thread-safe) ---------------------------------------------------------
    def _call(self, fn, *args) -> None:  # noqa: ANN001
        if self._loop is None:
            fn(*args)
            return
        done = threading.Event()

        def wrapped() -> None:
            try:
                fn(*args)
            finally:
                done.set()

        self._loop.call_soon_threadsafe(wrapped)
        done.wait(5)

    def set_profile(self, profile: LinkProfile) -> None:
        """Change latency/jitter/bandwidth (and scripted cuts) from now on."""

        def apply() -> None:
            self.profile = profile
            self._cuts = sorted(profile.cuts, key=lambda c: c.at_byte)
            self._make_shapers()

        self._call(apply)

    def cut_after(
        self, nbytes: int, direction: Direction = "up", kind: str = "reset", outage_s: float = 0.0
    ) -> None:
        """Schedule a cut ``nbytes`` from now in ``direction`` (relative to bytes so far)."""

        def apply() -> None:
            base = self.stats.up_bytes if direction == "up" else self.stats.down_bytes
            cut = Cut(base + nbytes, direction, kind, outage_s)  # type: ignore[arg-type]
            self._cuts = sorted([*self._cuts, cut], key=lambda c: c.at_byte)

        self._call(apply)

    def clear_cuts(self) -> None:
        """Forget scripted cuts that have not fired."""
        self._call(lambda: setattr(self, "_cuts", []))

    def reset_all(self) -> None:
        """Abort every open connection now (RST both ways)."""
        self._call(self._reset_all)

    def set_down(self, down: bool) -> None:
        """Link down: open connections are reset and new ones refused, until set up again."""

        def apply() -> None:
            self._down = down
            if down:
                self._reset_all()

        self._call(apply)

    def outage(self, seconds: float) -> None:
        """Blackhole the link for ``seconds``: nothing moves, nothing is refused."""
        self._call(lambda: self._start_outage(seconds))

    # ---- internals -----------------------------------------------------------------------
    def _make_shapers(self) -> None:
        self._shapers = {"up": Shaper(self.profile), "down": Shaper(self.profile)}

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _reset_all(self) -> None:
        for conn in list(self._connections):
            conn.abort()
        self._connections.clear()
        self.stats.resets += 1

    def _start_outage(self, seconds: float) -> None:
        self._outage_until = max(self._outage_until, self._now() + seconds)

    async def _wait_outage(self) -> None:
        while self._now() < self._outage_until:
            await asyncio.sleep(self._outage_until - self._now())

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        if self._down:
            self.stats.refused += 1
            _abort_with_rst(writer)
            return
        await self._wait_outage()
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.stats.refused += 1
            _abort_with_rst(writer)
            return
        if self._down:  # went down while connecting
            _abort_with_rst(s_writer)
            _abort_with_rst(writer)
            return
        conn.server = s_writer
        self.stats.connections += 1
        self._connections.add(conn)
        conn.tasks = [
            asyncio.ensure_future(self._pump(conn, reader, s_writer, "up")),
            asyncio.ensure_future(self._pump(conn, s_reader, writer, "down")),
        ]
        await asyncio.gather(*conn.tasks, return_exceptions=True)
        self._connections.discard(conn)
        if not conn.closed:
            conn.closed = True
            writer.close()
            s_writer.close()

    async def _pump(
        self,
        conn: _Connection,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        direction: Direction,
    ) -> None:
        """Carry one direction: read, schedule through the shaper, deliver on time, cut."""
        queue: deque[tuple[float, bytes, Chunk | None]] = deque()
        arrived = asyncio.Event()

        async def read_side() -> None:
            while True:
                shaper = self._shapers[direction]
                backlog = shaper.backlog_s(self._now())
                if backlog > _MAX_BACKLOG_S:
                    await asyncio.sleep(backlog - _MAX_BACKLOG_S)
                    continue
                try:
                    data = await src.read(_READ_SIZE)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    queue.append((self._now(), b"", None))
                    arrived.set()
                    return
                now = self._now()
                chunk = Chunk(direction, len(data), now, shaper.schedule(len(data), now))
                self.stats.chunks.append(chunk)
                queue.append((chunk.due_at, data, chunk))
                arrived.set()

        reader_task = asyncio.ensure_future(read_side())
        try:
            while True:
                while not queue:
                    arrived.clear()
                    await arrived.wait()
                deliver_at, data, chunk = queue.popleft()
                delay = deliver_at - self._now()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._wait_outage()
                if conn.closed:
                    return
                if not data:
                    if dst.can_write_eof():
                        dst.write_eof()
                    return
                if chunk is not None:
                    chunk.sent_at = self._now()
                await self._deliver(conn, dst, direction, data)
                if conn.closed:
                    return
        except (ConnectionError, OSError):
            conn.abort()
            self._connections.discard(conn)
        finally:
            reader_task.cancel()

    async def _deliver(
        self, conn: _Connection, dst: asyncio.StreamWriter, direction: Direction, data: bytes
    ) -> None:
        counter = "up_bytes" if direction == "up" else "down_bytes"
        while data:
            sent = getattr(self.stats, counter)
            cut = next((c for c in self._cuts if c.direction == direction), None)
            if cut is None or cut.at_byte - sent >= len(data):
                dst.write(data)
                setattr(self.stats, counter, sent + len(data))
                await dst.drain()
                return
            head = max(0, cut.at_byte - sent)
            if head:
                dst.write(data[:head])
                setattr(self.stats, counter, sent + head)
                await dst.drain()
            self._cuts.remove(cut)
            self.stats.cuts_fired.append(cut)
            if cut.kind == "outage":
                self._start_outage(cut.outage_s)
            self._reset_all()
            return
