"""The client end of the hub's signaling WebSocket (``/api/v1/ws``), Qt-free, on the media loop.

Keeps one connection per signed-in user: connects with the bearer access token, parses
every frame with ``app.protocol.signaling``, hands messages to ``on_message``, answers
nothing itself. Rural links drop: the connection is re-made with backoff (1 s doubling to
15 s) for as long as the client runs, and a call in progress survives that (the hub keeps
the call for a while; see ``hub.signaling.calls``). Frames sent while disconnected are
dropped, not queued: call signaling is retried by its owners (``MediaSession`` re-offers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect

from app.backoff import Backoff
from app.protocol import signaling as sig
from app.tasks import stop_task
from app.tls import client_ssl_context

log = logging.getLogger(__name__)

TokenProvider = Callable[[], Awaitable[str]]


class HubSignaling:
    """A self-healing signaling connection."""

    def __init__(
        self,
        hub_url: str,
        token: TokenProvider,
        on_message: Callable[[BaseModel], Awaitable[None] | None],
        on_connection: Callable[[bool], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        base = hub_url.rstrip("/")
        self.url = (
            "wss://" + base[8:]
            if base.startswith("https://")
            else "ws://" + base.removeprefix("http://")
        ) + "/api/v1/ws"
        self._token = token
        self._on_message = on_message
        self._on_connection = on_connection or (lambda up: None)
        # wss:// is verified like the hub's HTTP API: the HubClient's context (the policy's
        # hospital CA), never websockets' own default.
        self._ssl = ssl_context if ssl_context is not None else client_ssl_context()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.hello: sig.Hello | None = None
        self.connected = asyncio.Event()
        self.refused: str | None = None  # set when the hub refuses our token
        self.last_error = ""  # why the last attempt failed (e.g. an untrusted certificate)

    def start(self) -> None:
        """Begin connecting (call on the media loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Disconnect for good."""
        if self._task is not None:
            await stop_task(self._task, 5.0, "the signaling connection")
            self._task = None
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()

    async def send(self, message: BaseModel) -> bool:
        """Send one frame; False when not connected right now."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(message.model_dump_json())
            return True
        except websockets.ConnectionClosed:
            return False

    async def wait_connected(self, timeout: float = 10.0) -> sig.Hello:
        """Wait for the hub's hello (raises TimeoutError)."""
        await asyncio.wait_for(self.connected.wait(), timeout)
        assert self.hello is not None
        return self.hello

    async def _run(self) -> None:
        # Without jitter: one client per user, and a doctor waits for the hub to come back.
        backoff = Backoff(base_s=1.0, cap_s=15.0, jitter=False)
        while True:
            try:
                token = await self._token()
                # websockets refuses ssl= on ws:// and ssl=None on wss://: pass it only for wss.
                tls: dict[str, Any] = {"ssl": self._ssl} if self.url.startswith("wss:") else {}
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {token}"},
                    open_timeout=10,
                    ping_interval=15,
                    ping_timeout=20,
                    max_size=1 << 20,
                    **tls,
                ) as ws:
                    self._ws = ws
                    backoff.reset()
                    async for raw in ws:
                        await self._dispatch(raw)
            except asyncio.CancelledError:
                raise
            except websockets.ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == 4401:
                    self.refused = exc.rcvd.reason
                    log.warning("hub refused signaling: %s", exc.rcvd.reason)
            except websockets.InvalidStatus as exc:
                self.refused = f"hub answered HTTP {exc.response.status_code}: sign in again"
                log.warning("hub refused signaling: %s", self.refused)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                self.last_error = str(exc) or type(exc).__name__
                log.info("signaling connection failed: %s", exc)
            except Exception as exc:  # noqa: BLE001 - e.g. the token provider's refresh found
                # the hub gone (HubOffline): that is one more failed attempt, not the end of
                # reconnecting for the rest of the session.
                log.info("signaling could not start a connection: %s", exc)
            finally:
                if self._ws is not None:
                    self._ws = None
                    self.connected.clear()
                    self._on_connection(False)
            await asyncio.sleep(backoff.next_delay())

    async def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = sig.parse_server_message(raw)
        except sig.SignalingError as exc:
            log.warning("ignored a frame from the hub: %s", exc)
            return
        if isinstance(message, sig.Hello):
            self.hello = message
            self.connected.set()
            self._on_connection(True)
        result = self._on_message(message)
        if asyncio.iscoroutine(result):
            await result
