"""The one place that touches pynetdicom internals: latency tuning of a received association.

pynetdicom is a polling design: each association's DUL thread sleeps ``_run_loop_delay`` (1 ms)
whenever it finds nothing to do, and reads a PDU 4 KiB per ``recv`` call. A C-STORE is a
request/response exchange (``storescu`` waits for each answer before sending the next
instance), so these waits add up per instance: profiling a 512×512 CT series showed the
receiver busy ~3 ms of ~8 ms per instance, the rest idle in those sleeps. On each new
connection we:

- turn Nagle's algorithm off (a small C-STORE response must not wait for a delayed ACK);
- shorten the DUL's idle sleep to 0.2 ms (costs a little CPU, only while an association is
  open) — or, on pynetdicom 3.0, replace that polling by a wait: the DUL thread blocks in
  ``select`` on the peer's socket and on a wake-up socket that a queued outgoing primitive
  (our C-STORE response) writes to, so it neither spins 5,000 times a second taking the
  interpreter lock from the thread that stores the instance, nor sends the response late;
- read each PDU straight into one buffer of its announced length (``recv_into``) instead of
  4 KiB pieces appended to a bytearray;
- (pynetdicom 3.0 only, the version whose loop was copied) run the association's reactor with
  a wake-up instead of its fixed 1 ms sleep per turn: the loop waits on the DIMSE message
  queue, so a C-STORE whose last fragment arrived is served at once (measured 0.55–0.8 ms
  saved per instance), and otherwise checks release/abort/timeouts every 1 ms as before.

Checked against pynetdicom 2.1–3.x; on another version nothing is changed (the receiver still
works, only slower) and a warning says why.
"""

from __future__ import annotations

import logging
import queue
import select
import socket
import ssl
import types
import weakref
from typing import Any, cast

import pynetdicom

log = logging.getLogger(__name__)

IDLE_SLEEP = 0.0002
# The DUL's longest wait for the socket or a wake-up: how soon it notices its timers (ARTIM,
# idle) and a kill, as its 0.2–1 ms polling did.
DUL_WAIT = 0.002
_TESTED = ("2.1", "3.0")


def supported(version: str = pynetdicom.__version__) -> bool:
    """Whether this pynetdicom's internals are the ones this module was written against."""
    return any(version == v or version.startswith(v + ".") for v in _TESTED)


def _recv_whole(self: Any, nr_bytes: int) -> bytearray:
    """``AssociationSocket.recv``: up to ``nr_bytes`` (fewer only when the peer closed)."""
    buf = bytearray(nr_bytes)
    view = memoryview(buf)
    got = 0
    while got < nr_bytes:
        n = self.socket.recv_into(view[got:], nr_bytes - got)
        if not n:
            del view
            del buf[got:]
            return buf
        got += n
    return buf


def _reactor_wakes_on_message(self: Any) -> None:
    """``Association._run_reactor`` of pynetdicom 3.0 (acceptor loop), with its
    ``time.sleep(0.001)`` replaced by a wait of at most 1 ms on the DIMSE message queue."""
    evt = pynetdicom.evt
    pending = self.dimse.msg_queue
    self._is_paused = False
    while not self._kill:
        with pending.not_empty:  # queue.Queue's own condition: put() notifies it
            if not pending._qsize():
                pending.not_empty.wait(0.001)
        self._is_paused = True
        self._reactor_checkpoint.wait()
        self._is_paused = False
        context_id, msg = self.dimse.get_msg(block=False)
        if msg:
            self._serve_request(msg, cast(int, context_id))
        if self.is_established and self.acse.is_release_requested():
            self.acse.send_release(is_response=True)
            self.is_released = True
            self.is_established = False
            evt.trigger(self, evt.EVT_RELEASED, {})
            self.kill()
            return
        if self.acse.is_aborted():
            self.dul.receive_pdu(wait=False)
            self.is_aborted = True
            self.is_established = False
            evt.trigger(self, evt.EVT_ABORTED, {})
            self.kill()
            return
        if not self.dul.is_alive():
            self.kill()
            return
        if self.dul.idle_timer_expired():
            log.error("DICOM association: network timeout reached")
            if self.network_timeout_response == "A-RELEASE":
                self._is_paused = True
                self._reactor_checkpoint.wait()
                self.release()
                self._is_paused = False
            else:
                self.abort()
            self.kill()
            return


class _WakingQueue(queue.Queue):
    """The DUL's ``to_provider_queue``: each put also wakes the DUL thread's ``select``."""

    def __init__(self, wake: socket.socket) -> None:
        super().__init__()
        self._wake = wake

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        try:
            self._wake.send(b"\0")
        except OSError:  # full (it is being drained) or closed (the association ended)
            pass


def _ready_waiting(self: Any, woken_by: socket.socket) -> bool:
    """``AssociationSocket.ready``, waiting up to ``DUL_WAIT`` for the peer's data or for a
    wake-up (then False: the DUL loop goes on to send the queued primitive)."""
    sock = self.socket
    if sock is None or self._is_connected is False:
        return False
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True  # decrypted bytes select() cannot see
    try:
        ready, _, _ = select.select([sock, woken_by], [], [], DUL_WAIT)
    except (OSError, TimeoutError, ValueError):
        self.event_queue.put("Evt17")  # as pynetdicom's ready(): the connection is gone
        return False
    if woken_by in ready:
        try:
            while woken_by.recv(4096):
                pass
        except OSError:  # drained (BlockingIOError) or closed
            pass
    return sock in ready


def _wait_instead_of_polling(assoc: Any) -> None:
    """Make this acceptor's DUL thread wait in ``select`` (socket + wake-up) instead of
    polling; the wake-up pair is closed once the association has been killed."""
    dul = assoc.dul
    if not dul.to_provider_queue.empty():
        return  # something is already queued: leave this association as it is
    woken_by, waker = socket.socketpair()
    woken_by.setblocking(False)
    waker.setblocking(False)
    dul.to_provider_queue = _WakingQueue(waker)
    wrapper = dul.socket
    wrapper_type = type(wrapper)
    # ``ready`` is a property on the class: give this one wrapper its own subclass.
    wrapper.__class__ = type(
        "WaitingAssociationSocket",
        (wrapper_type,),
        {"ready": property(lambda self: _ready_waiting(self, woken_by))},
    )
    dul._run_loop_delay = 0.0  # the wait is in select(); no extra sleep before a send

    def close_pair() -> None:
        woken_by.close()
        waker.close()

    finalizer = weakref.finalize(assoc, close_pair)
    kill = assoc.kill

    def kill_then_close() -> None:
        kill()
        if not dul.is_alive():
            finalizer()

    assoc.kill = kill_then_close


def _reactor_copied(version: str = pynetdicom.__version__) -> bool:
    """Whether ``_reactor_wakes_on_message`` is a copy of this version's loop."""
    return version == "3.0" or version.startswith("3.0.")


def tune_association(event: Any) -> None:
    """``EVT_CONN_OPEN`` handler for our server: apply the tuning to this association."""
    if not supported():
        return
    try:
        dul = event.assoc.dul
        wrapper = dul.socket
        raw = wrapper.socket
        if raw.family in (socket.AF_INET, socket.AF_INET6):
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        dul._run_loop_delay = IDLE_SLEEP
        wrapper.recv = types.MethodType(_recv_whole, wrapper)
        assoc = event.assoc
        # EVT_CONN_OPEN fires before the association thread starts, so the instance attribute
        # is what its run_reactor() calls; only an acceptor (our server) runs this loop.
        if _reactor_copied() and assoc.is_acceptor:
            assoc.dimse.msg_queue.not_empty  # noqa: B018 - fail here, not in the loop
            assoc._run_reactor = types.MethodType(_reactor_wakes_on_message, assoc)
            _wait_instead_of_polling(assoc)
    except (AttributeError, OSError) as exc:  # a changed internal: run untuned, never fail
        log.warning("pynetdicom tuning not applied: %s", exc)


if not supported():
    log.warning(
        "pynetdicom %s is not one this receiver was tuned against (%s): running untuned",
        pynetdicom.__version__,
        ", ".join(_TESTED),
    )
