"""Restrict ICE host candidates to 127.0.0.1 (tests, benchmarks, the demo hub).

aioice deliberately skips 127.0.0.1 when gathering host candidates, so on a machine without
another interface two peers would find no path at all, and on one with a LAN address test
media would leave loopback. Process-wide (``app.media.aiortc_adapter``); only test and
benchmark entry points (and a hub started with ``--loopback-media``) call it.
"""

from __future__ import annotations

from app.media import aiortc_adapter as adapter


def use_loopback_candidates(enabled: bool = True) -> None:
    """Gather only 127.0.0.1 (``enabled``) or restore aioice's own behaviour."""
    adapter.restrict_host_addresses(["127.0.0.1"] if enabled else None)
