"""Background execution, Qt-free: one lazily started asyncio loop thread and a worker pool.

- ``async_loop()``: the single asyncio loop for media and signaling. Every aiortc object is
  created and used on it (aiortc objects bound to another loop fail).
- ``worker_pool()``: threads for local blocking work (disk, decode, the record cache).
- ``network_pool()``: threads for work that waits on a network peer (the hub, a PACS).
  Kept apart because on a rural link such waits last their whole timeout: a handful of
  them must not leave the patient list or the viewer queued behind a dead connection.

The Qt side (``app.ui.bridge``) turns the futures returned here into queued signals.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class AsyncLoopThread:
    """An asyncio loop running forever on its own daemon thread."""

    def __init__(self, name: str = "yiqiao-asyncio") -> None:
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (valid once constructed)."""
        assert self._loop is not None
        return self._loop

    @property
    def thread(self) -> threading.Thread:
        """The loop's thread."""
        return self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine on the loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel remaining tasks and stop the loop."""
        if not self._thread.is_alive():
            return

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.submit(_cancel_all()).result(timeout)
        except Exception:  # noqa: BLE001 - shutting down regardless
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


async def wait_ended(task: asyncio.Task[Any], timeout: float, what: str) -> bool:
    """Wait up to ``timeout`` s for ``task`` to end; True if it did, else its stack is logged.

    Unlike ``await task`` this never loses the caller's own cancellation: a task awaiting
    another task hands its ``cancel()`` on to that task, and if that one catches
    ``CancelledError`` (aioice's close, a media drain) the caller just carries on — a loop
    such as the media watchdog then runs for ever. ``asyncio.wait`` waits on a future of its
    own, so the caller's cancellation stays the caller's. The task's own outcome is read
    (never raised), so nothing is logged as "never retrieved".
    """
    if not task.done():
        await asyncio.wait({task}, timeout=timeout)
    if not task.done():
        stack = io.StringIO()
        task.print_stack(file=stack)
        log.warning(
            "%s did not end within %.0f s; left running at:\n%s", what, timeout, stack.getvalue()
        )
        return False
    if not task.cancelled() and task.exception() is not None:
        log.warning("%s ended with %r", what, task.exception())
    return True


async def stop_task(task: asyncio.Task[Any] | None, timeout: float, what: str) -> bool:
    """Cancel ``task`` and wait up to ``timeout`` s for it to end (see ``wait_ended``).

    Returns True once it has ended (or there was none). A task cannot stop itself this way:
    called from ``task`` itself it is left alone and False is returned."""
    if task is None:
        return True
    if task is asyncio.current_task():
        return False
    task.cancel()
    return await wait_ended(task, timeout, what)


_lock = threading.Lock()
_async: AsyncLoopThread | None = None
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_net_pool: concurrent.futures.ThreadPoolExecutor | None = None


def async_loop() -> AsyncLoopThread:
    """The shared asyncio loop thread, started on first use."""
    global _async
    with _lock:
        if _async is None:
            _async = AsyncLoopThread()
        return _async


def worker_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The shared pool for local blocking work (sized for small clinic PCs)."""
    global _pool
    with _lock:
        if _pool is None:
            workers = max(2, min(8, (os.cpu_count() or 2) + 2))
            _pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="yiqiao-io")
        return _pool


# Network jobs mostly sleep in recv(); more threads cost little and keep a slow PACS query
# from queueing behind a hub request that is timing out.
NETWORK_WORKERS = 8


def network_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The shared pool for work that waits on the hub or a DICOM peer."""
    global _net_pool
    with _lock:
        if _net_pool is None:
            _net_pool = concurrent.futures.ThreadPoolExecutor(
                NETWORK_WORKERS, thread_name_prefix="yiqiao-net"
            )
        return _net_pool


def abandon_pools(cancel_queued: bool = False) -> None:
    """Give later work fresh pools; the old ones finish (or, if asked, drop) what they hold.

    Between tests: a job an earlier test left waiting on a dead peer must not delay the next.
    """
    global _pool, _net_pool
    with _lock:
        pools, _pool, _net_pool = (_pool, _net_pool), None, None
    for pool in pools:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=cancel_queued)


def shutdown(timeout: float = 5.0) -> None:
    """Stop the loop thread and the pools (at app exit and between tests)."""
    global _async
    with _lock:
        loop, _async = _async, None
    if loop is not None:
        loop.stop(timeout)
    abandon_pools(cancel_queued=True)
