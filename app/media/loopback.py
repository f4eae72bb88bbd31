"""Restrict ICE host candidates to 127.0.0.1 (tests, benchmarks, the demo hub).

aioice deliberately skips 127.0.0.1 when gathering host candidates, so on a machine without
another interface two peers would find no path at all, and on one with a LAN address test
media would leave loopback. Patching ``aioice.ice.get_host_addresses`` is process-wide;
only test and benchmark entry points (and a hub started with ``--loopback-media``) call it.
"""

from __future__ import annotations

import aioice.ice

_original = aioice.ice.get_host_addresses


def use_loopback_candidates(enabled: bool = True) -> None:
    """Gather only 127.0.0.1 (``enabled``) or restore aioice's own behaviour."""
    if enabled:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    else:
        aioice.ice.get_host_addresses = _original
