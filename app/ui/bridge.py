"""The bridge from background work to the GUI: results come back as queued Qt signals.

``run_in_worker(fn, ...)`` runs local blocking work (disk, decode, the record cache) on the
worker pool; ``run_network(fn, ...)`` runs work that waits on the hub or a DICOM peer on the
network pool, so a dead link never queues local work behind it; ``run_async(coro)`` runs a
coroutine on the asyncio thread. Either way the callbacks fire on the GUI thread, so widgets
can be touched safely, and the GUI thread never waits.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal

from app import tasks

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives on the GUI thread; a queued signal hops each result onto it."""

    delivered = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.delivered.connect(self._invoke, Qt.ConnectionType.QueuedConnection)

    @staticmethod
    def _invoke(thunk: Callable[[], object]) -> None:
        try:
            thunk()
        except Exception:  # noqa: BLE001 - a failing callback must not kill the event loop
            log.exception("callback on the GUI thread failed")


_relay: _Relay | None = None


_relay_lock = threading.Lock()


def _get_relay() -> _Relay:
    global _relay
    with _relay_lock:
        if _relay is None:
            relay = _Relay()
            # The first caller may be a worker (a sync engine's change listener): the relay
            # must live on the GUI thread all the same, or nothing it carries is delivered.
            app = QCoreApplication.instance()
            if app is not None and relay.thread() is not app.thread():
                relay.moveToThread(app.thread())
            _relay = relay
    return _relay


def call_on_gui(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` on the GUI thread soon (safe from any thread)."""
    _get_relay().delivered.emit(lambda: fn(*args))


def _deliver(
    future: concurrent.futures.Future[Any],
    on_done: Callable[[Any], object] | None,
    on_error: Callable[[BaseException], object] | None,
) -> None:
    relay = _get_relay()

    def done(f: concurrent.futures.Future[Any]) -> None:
        if f.cancelled():
            return
        error = f.exception()
        if error is not None:
            if on_error is not None:
                relay.delivered.emit(lambda: on_error(error))
            else:
                log.error("background job failed", exc_info=error)
        elif on_done is not None:
            result = f.result()
            relay.delivered.emit(lambda: on_done(result))

    future.add_done_callback(done)


def run_in_worker(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], object] | None = None,
    on_error: Callable[[BaseException], object] | None = None,
) -> concurrent.futures.Future[Any]:
    """Run local blocking ``fn(*args)`` on the worker pool; callbacks arrive on the GUI thread."""
    return _submit(tasks.worker_pool(), fn, args, on_done, on_error)


def run_network(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], object] | None = None,
    on_error: Callable[[BaseException], object] | None = None,
) -> concurrent.futures.Future[Any]:
    """Run ``fn(*args)``, which waits on the hub or a DICOM peer, on the network pool."""
    return _submit(tasks.network_pool(), fn, args, on_done, on_error)


def _submit(
    pool: concurrent.futures.Executor,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    on_done: Callable[[Any], object] | None,
    on_error: Callable[[BaseException], object] | None,
) -> concurrent.futures.Future[Any]:
    _get_relay()  # created on the calling (GUI) thread so it lives there
    future = pool.submit(fn, *args)
    _deliver(future, on_done, on_error)
    return future


def run_async(
    coro: Coroutine[Any, Any, Any],
    on_done: Callable[[Any], object] | None = None,
    on_error: Callable[[BaseException], object] | None = None,
) -> concurrent.futures.Future[Any]:
    """Run ``coro`` on the asyncio thread; callbacks arrive on the GUI thread."""
    _get_relay()
    future = tasks.async_loop().submit(coro)
    _deliver(future, on_done, on_error)
    return future


class NewestOnly:
    """Of the loads one view starts, only the newest one's result is shown: workers may
    finish out of order, and a load started before a save must not hide what was saved."""

    def __init__(self) -> None:
        self._ticket = 0

    def deliver(self, show: Callable[..., object]) -> Callable[..., None]:
        """A new ticket: the returned callback calls ``show`` only if no later one was taken."""
        self._ticket += 1
        ticket = self._ticket

        def if_newest(*args: Any) -> None:
            if ticket == self._ticket:
                show(*args)

        return if_newest
