"""ICE consent checks that survive a long round trip.

aioice checks consent (RFC 7675) every ~5 s with a single STUN request and no retransmission,
whose timeout is its initial RTO of 0.5 s; six failures in a row close the connection. On a
link whose round trip is above 0.5 s (link c, 600 ms; a congested rural uplink) every check
"fails", so every call dies after ~30 s and has to be renegotiated. Here each check may be
retransmitted (0.5, 1, 2 s back-off: a reply within ~3.5 s counts), which keeps RFC 7675's
rule — consent expires after ~30 s without any answer — and only stops a slow answer from
being taken for none.

Process-wide (aioice's consent loop, replaced through ``app.media.aiortc_adapter``); the low-band media path
installs it, stock aiortc runs in the benchmark keep aioice's own.
"""

from __future__ import annotations

import asyncio
import logging
import random

import aioice.ice
from aioice import stun

from app.media import aiortc_adapter as adapter

log = logging.getLogger(__name__)

CONSENT_RETRANSMISSIONS = 3  # tries at 0, 0.5, 1.5, 3.5 s; given up at 7.5 s


async def _query_consent(self: aioice.ice.Connection) -> None:
    assert self.remote_password is not None
    failures = 0
    while True:
        await asyncio.sleep(aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in adapter.nominated_pairs(self):
            request = self.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=self.remote_password.encode("utf8"),
                    retransmissions=CONSENT_RETRANSMISSIONS,
                )
                failures = 0
            except stun.TransactionError:
                failures += 1
            # Each failed check took up to ~7.5 s plus the interval: expire after ~30 s
            # without an answer, as RFC 7675 says, not after six checks.
            if failures >= 3:
                log.info("ICE consent to send expired")
                await adapter.consent_expired(self)
                return


def use_patient_consent_checks(enabled: bool = True) -> None:
    """Install (or with ``enabled=False`` remove) the retransmitting consent check."""
    adapter.patch_consent_checks(_query_consent if enabled else None)
