"""Call signaling on the hub: the WebSocket (presence, ringing, SDP relay), TURN
credentials, and the test-call echo peer. ``router`` is mounted by ``hub.app.create_app``;
``start``/``stop`` run with the app's lifespan (and ``start`` on the first socket otherwise).

Other hub modules tell signed-in users something with ``notify_users(app, user_ids,
message)``: any ``app.protocol.signaling`` message reaches every socket of those users on
whichever hub process holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pydantic import BaseModel

from hub.signaling.ws import router, switchboard

log = logging.getLogger(__name__)

__all__ = ["notify_users", "router", "start", "stop"]


async def start(app: Any) -> None:
    """Register this process with the others and start the shared timers."""
    await switchboard(app).ensure_started()


async def stop(app: Any) -> None:
    """Leave cleanly: sockets closed, presence cleared (survivors keep the calls)."""
    board = getattr(app.state, "switchboard", None)
    if board is not None:
        with contextlib.suppress(Exception):
            await board.stop()


def notify_users(app: Any, user_ids: list[str] | set[str], message: BaseModel) -> None:
    """Send ``message`` to every signaling socket of ``user_ids`` on any hub process.

    Callable from the event loop or from a worker thread (a sync route); fire-and-forget:
    a user with no socket open gets nothing (they learn it on their next sync)."""
    board = switchboard(app)

    async def send() -> None:
        await board.ensure_started()
        await board.send_users(list(user_ids), message)

    def report(task: Any) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("notify_users failed: %s", task.exception())

    loop: Any
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = getattr(app.state, "loop", None)
        if loop is None:
            log.debug("notify_users: no event loop known yet; nothing sent")
            return
        asyncio.run_coroutine_threadsafe(send(), loop).add_done_callback(report)
        return
    loop.create_task(send()).add_done_callback(report)
