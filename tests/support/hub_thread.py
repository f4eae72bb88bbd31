"""A hub app served by uvicorn in a background thread of the test process, on loopback.

For the tests that need the hub in-process (an injected clock, ``app.state``, loopback ICE
candidates set for this process); the hub as its own process is tests.support.hub_launcher.
The server listens on a socket bound to a free port before it starts; the start is awaited
with a generous deadline, and a hub that never starts fails with the log lines it wrote.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import TYPE_CHECKING

from tests.support.wait import wait_until

if TYPE_CHECKING:
    import uvicorn


class _LogLines(logging.Handler):
    """Keeps the log lines written while the hub starts, to show them if it never does."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


def serve_in_thread(
    config: uvicorn.Config, what: str = "the hub", timeout: float = 60.0
) -> tuple[str, uvicorn.Server, threading.Thread]:
    """Serve ``config``'s app on 127.0.0.1:<free port>; (url, server, thread) once started.

    Stop it with ``server.should_exit = True`` and ``thread.join()``."""
    import uvicorn  # on first use: the media tests' collection does not pay for it

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(config)
    startup_log = _LogLines()
    logging.getLogger().addHandler(startup_log)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise AssertionError(f"{what}'s server thread ended")
        return bool(server.started)

    try:
        wait_until(started, timeout, what=f"{what} to start")
    except AssertionError as exc:
        server.should_exit = True
        raise AssertionError(f"{exc}; its log:\n" + "\n".join(startup_log.lines)) from None
    finally:
        logging.getLogger().removeHandler(startup_log)
    return f"http://127.0.0.1:{port}", server, thread
