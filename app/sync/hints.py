"""Sync hints from the hub: ``sync.hint`` on the signaling WebSocket wakes the sync engine, so
a change made on the other side arrives within seconds, not at the next periodic pull.

Two ways in:

- the app already keeps one signaling socket per user (the call service): chain
  :func:`hint_handler` into its ``on_message`` so hints poke the engine;
- without a call service (headless use, tests, benchmarks) :class:`HintListener` keeps its own
  socket (``?purpose=sync``: the hub leaves missed calls for the call socket) on a thread.

Either way the periodic pull stays: a hint may be lost while the socket reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

from app.protocol import signaling as sig
from app.tls import client_ssl_context

log = logging.getLogger(__name__)


def hint_handler(engine: Any) -> Callable[[Any], None]:
    """An ``on_message`` callback that pokes ``engine`` (a SyncEngine) on every sync hint."""

    def on_message(message: Any) -> None:
        if isinstance(message, sig.SyncHint):
            engine.poke()

    return on_message


def ws_url(hub_url: str, path: str = "/api/v1/ws?purpose=sync") -> str:
    base = hub_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + path
    return "ws://" + base.removeprefix("http://") + path


class HintListener:
    """A thread holding a hints-only signaling socket; pokes ``engine`` on each hint."""

    def __init__(
        self,
        hub_url: str,
        token: Callable[[], str],
        engine: Any,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = ws_url(hub_url)
        # The HubClient's context: verified against the policy's CA like every connection.
        self._ssl = ssl_context if ssl_context is not None else client_ssl_context()
        self._token = token
        self._on_message = hint_handler(engine)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.hints = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="yiqiao-sync-hints", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._task = self._loop.create_task(self._listen())
            with contextlib.suppress(asyncio.CancelledError):
                self._loop.run_until_complete(self._task)
        finally:
            self._loop.close()

    async def _listen(self) -> None:
        import websockets
        from websockets.asyncio.client import connect

        delay = 1.0
        while True:
            try:
                tls: dict[str, Any] = {"ssl": self._ssl} if self.url.startswith("wss:") else {}
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self._token()}"},
                    open_timeout=10,
                    ping_interval=15,
                    ping_timeout=20,
                    max_size=1 << 20,
                    **tls,
                ) as ws:
                    delay = 1.0
                    async for raw in ws:
                        try:
                            message = sig.parse_server_message(raw)
                        except sig.SignalingError:
                            continue
                        if isinstance(message, sig.Hello):
                            self.connected.set()
                        elif isinstance(message, sig.SyncHint):
                            self.hints += 1
                            self._on_message(message)
            except asyncio.CancelledError:
                raise
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                log.info("sync hint socket failed: %s", exc)
            finally:
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(15.0, delay * 2)
