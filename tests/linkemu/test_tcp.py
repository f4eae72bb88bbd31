"""The link emulator really delays, throttles and cuts at the byte offsets it is told."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.linkemu import Cut, LinkEmulator, LinkProfile
from tests.support.wait import wait_until


class _Sink(socketserver.BaseRequestHandler):
    """Counts what it receives, echoes each chunk back."""

    received: list[bytes]

    def handle(self) -> None:
        while True:
            try:
                data = self.request.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.server.received.append(data)  # type: ignore[attr-defined]
            try:
                self.request.sendall(data)
            except OSError:
                return


@pytest.fixture
def echo_server() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def test_latency_adds_round_trip(echo_server) -> None:
    port = echo_server.server_address[1]
    with LinkEmulator("127.0.0.1", port, LinkProfile(latency_ms=60)) as emu:
        with socket.create_connection(("127.0.0.1", emu.port)) as sock:
            sock.sendall(b"ping")
            assert _recv_exact(sock, 4) == b"ping"
        up, down = list(emu.stats.chunks)[:2]
    # Each way held for its latency, and handed on no earlier than that (times on the
    # emulator's clock; how long it really took is for bench/).
    assert (up.direction, down.direction) == ("up", "down")
    for chunk in (up, down):
        assert chunk.due_at - chunk.read_at == pytest.approx(0.060)
        assert chunk.sent_at is not None and chunk.sent_at >= chunk.due_at - 1e-3
    assert down.read_at >= up.sent_at  # the echo came back after the ping went out


def test_bandwidth_cap_limits_throughput(echo_server) -> None:
    port = echo_server.server_address[1]
    payload = b"x" * 100_000  # 800 kbit at 4 Mbit/s: ~0.2 s each way, pipelined
    with LinkEmulator("127.0.0.1", port, LinkProfile(bandwidth_bps=4e6)) as emu:
        with socket.create_connection(("127.0.0.1", emu.port)) as sock:
            threading.Thread(target=sock.sendall, args=(payload,), daemon=True).start()
            assert _recv_exact(sock, len(payload)) == payload
        assert emu.stats.up_bytes == len(payload)
        up = [c for c in emu.stats.chunks if c.direction == "up"]
    # The wire carries 4 Mbit/s at most: the last byte up is due no sooner than 100 kB
    # after the first one was read, and no chunk went on before it was due.
    assert sum(c.size for c in up) == len(payload)
    assert up[-1].due_at - up[0].read_at >= len(payload) * 8 / 4e6 - 1e-9
    assert all(c.sent_at is not None and c.sent_at >= c.due_at - 1e-3 for c in up)


def test_reset_at_exact_byte_offset(echo_server) -> None:
    port = echo_server.server_address[1]
    profile = LinkProfile(cuts=[Cut(at_byte=1234, direction="up")])
    with LinkEmulator("127.0.0.1", port, profile) as emu:
        sock = socket.create_connection(("127.0.0.1", emu.port))
        sock.settimeout(5)
        with pytest.raises(OSError):
            for _ in range(100):
                sock.sendall(b"y" * 100)
                time.sleep(0.002)
            _recv_exact(sock, 10_000)
            sock.recv(1)  # a reset connection raises here at the latest
        sock.close()
        wait_until(
            lambda: emu.stats.resets >= 1 and sum(map(len, echo_server.received)) >= 1234,
            30,
            "the cut to reach the server",
        )
        assert sum(len(c) for c in echo_server.received) == 1234
        assert emu.stats.resets == 1
        # the link works again after the cut
        with socket.create_connection(("127.0.0.1", emu.port)) as again:
            again.sendall(b"ok")
            assert _recv_exact(again, 2) == b"ok"


def test_link_down_refuses_then_recovers(echo_server) -> None:
    port = echo_server.server_address[1]
    with LinkEmulator("127.0.0.1", port) as emu:
        emu.set_down(True)
        with socket.create_connection(("127.0.0.1", emu.port)) as sock:
            sock.settimeout(2)
            with pytest.raises(OSError):
                sock.sendall(b"a")
                if not sock.recv(1):
                    raise ConnectionResetError("closed")
        emu.set_down(False)
        with socket.create_connection(("127.0.0.1", emu.port)) as sock:
            sock.sendall(b"up")
            assert _recv_exact(sock, 2) == b"up"
