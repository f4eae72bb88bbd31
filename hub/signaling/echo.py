"""The test-call echo peer: the hub answers a test call and sends the caller's own audio
and video back, so a doctor can check camera, microphone and link before a consultation.

The echo runs on the hub's event loop (all its aiortc objects live there) and re-encodes
what it receives with the low-band encoders at a fixed middle rung (≈150 kbit/s video, 24
kbit/s audio): what comes back is roughly what the far end of a real call would see. Each
new offer (the client reconnecting) replaces the previous peer connection.

It receives like a client does (``install_receive_buffers``: lost audio rebuilt or
concealed, video holes given a deadline), so the echo is not worse than a real call, and it
gathers ICE candidates like the caller: a caller that offers only 127.0.0.1 (tests, the
demo hub on one PC) gets a loopback-only answer, so a hub run as a separate process does not
answer with LAN addresses the caller never tries.
"""

from __future__ import annotations

import contextlib
import logging
import re

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from app.media.ice_consent import use_patient_consent_checks
from app.media.loopback import use_loopback_candidates
from app.media.lowband import SendControl, install_encoders, install_receive_buffers
from app.protocol.datachannel import (
    DATACHANNEL_LABEL,
    DataChannelError,
    MediaFeedback,
    parse_message,
)

log = logging.getLogger(__name__)


def offers_only_loopback(sdp: str) -> bool:
    """True if every ICE candidate in ``sdp`` is on 127.0.0.0/8 (and there is one)."""
    hosts = re.findall(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+", sdp, re.M)
    return bool(hosts) and all(h.startswith("127.") for h in hosts)


class EchoPeer:
    """Answers offers; loops every received track back to its sender."""

    def __init__(self) -> None:
        self.pc: RTCPeerConnection | None = None
        self.session = 0

    async def answer(self, session: int, offer_sdp: str) -> str:
        """Build a fresh peer connection for ``offer_sdp`` and return the answer SDP."""
        await self.close()
        self.session = session
        pc = self.pc = RTCPeerConnection()
        received: list[MediaStreamTrack] = []
        pc.on("track", received.append)
        channel = pc.createDataChannel(DATACHANNEL_LABEL, negotiated=True, id=0)

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            # Chat comes back too: the data channel is checked as well. Link feedback does
            # not: the caller's view of our path back would pass for our view of its path.
            try:
                if isinstance(parse_message(message), MediaFeedback):
                    return
            except DataChannelError:
                pass  # not ours to judge: echo it like anything else
            channel.send(message)

        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        for tx in pc.getTransceivers():
            install_receive_buffers(tx.receiver, tx.kind)
        senders = {track.kind: pc.addTrack(track) for track in received}
        install_encoders(senders.get("audio"), senders.get("video"), SendControl())
        use_patient_consent_checks()  # a clinic on a > 0.5 s round trip keeps its test call
        # Candidates are gathered in setLocalDescription; the echo peers are the only aiortc
        # users in the hub process, so the process-wide choice is theirs to make.
        use_loopback_candidates(offers_only_loopback(offer_sdp))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    async def close(self) -> None:
        """Stop echoing."""
        pc, self.pc = self.pc, None
        if pc is not None:
            with contextlib.suppress(Exception):
                await pc.close()
