"""The one place that touches pynetdicom internals: latency tuning of a received association.

pynetdicom is a polling design: each association's DUL thread sleeps ``_run_loop_delay`` (1 ms)
whenever it finds nothing to do, and reads a PDU 4 KiB per ``recv`` call. A C-STORE is a
request/response exchange (``storescu`` waits for each answer before sending the next
instance), so these waits add up per instance: profiling a 512×512 CT series showed the
receiver busy ~3 ms of ~8 ms per instance, the rest idle in those sleeps. On each new
connection we:

- turn Nagle's algorithm off (a small C-STORE response must not wait for a delayed ACK);
- shorten the DUL's idle sleep to 0.2 ms (costs a little CPU, only while an association is
  open);
- read each PDU straight into one buffer of its announced length (``recv_into``) instead of
  4 KiB pieces appended to a bytearray.

Checked against pynetdicom 2.1–3.x; on another version nothing is changed (the receiver still
works, only slower) and a warning says why.
"""

from __future__ import annotations

import logging
import socket
import types
from typing import Any

import pynetdicom

log = logging.getLogger(__name__)

IDLE_SLEEP = 0.0002
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
    except (AttributeError, OSError) as exc:  # a changed internal: run untuned, never fail
        log.warning("pynetdicom tuning not applied: %s", exc)


if not supported():
    log.warning(
        "pynetdicom %s is not one this receiver was tuned against (%s): running untuned",
        pynetdicom.__version__,
        ", ".join(_TESTED),
    )
