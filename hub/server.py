"""How the hub is served: the uvicorn configuration shared by ``hub serve`` and the tests,
and the one adapter onto uvicorn internals (a header deadline uvicorn lacks).

uvicorn times out idle keep-alive connections but not a client that trickles its request
headers a byte at a time: 400 such connections stay open forever (slowloris). Our protocol
class closes a connection whose request headers are not complete within
``HubConfig.header_timeout`` of its first byte (or of the connection opening). Bodies have
their own idle timeout in hub.edge and in the tus receiver.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.config import HubConfig

log = logging.getLogger("hub.server")

_TESTED_UVICORN = ("0.3", "0.4", "0.5")  # H11Protocol internals as of 0.30 … 0.5x


def _uvicorn_supported() -> bool:
    return uvicorn.__version__.startswith(_TESTED_UVICORN)


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline on each request's headers."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        waiting = self.conn.their_state == h11.IDLE
        if waiting and (self.cycle is None or self.cycle.response_complete):
            log.info("closing a connection whose request headers did not arrive in time")
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state == h11.IDLE:
            self._arm()  # (part of) a request's headers, not complete yet
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def uvicorn_config(app: Any, config: HubConfig, **kw: Any) -> uvicorn.Config:
    """The uvicorn.Config every hub process uses (``kw`` adds or overrides)."""
    options: dict[str, Any] = dict(
        log_config=None,
        access_log=False,
        server_header=False,
        # The app reads forwarded headers itself, from configured proxies only
        # (hub.state.client_ip); uvicorn would rewrite the peer before the app could check.
        proxy_headers=False,
        timeout_keep_alive=5,
    )
    if _uvicorn_supported():
        protocol = type(
            "HubH11Protocol", (HeaderDeadlineProtocol,), {"header_timeout": config.header_timeout}
        )
        options["http"] = protocol
    else:
        log.warning(
            "uvicorn %s is untested with the header deadline; serving without it",
            uvicorn.__version__,
        )
    options.update(kw)
    return uvicorn.Config(app, **options)
