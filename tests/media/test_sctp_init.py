"""The data channel opens after a lossy start: a retransmitted SCTP INIT carries
verification tag 0 (RFC 9260 §8.5.1), so the peer takes it (aiortc's own INIT carried the
peer's tag once both ends had seen each other's INIT, and every retry was dropped)."""

from __future__ import annotations

import asyncio

from aiortc.rtcsctptransport import InitChunk, RTCSctpTransport, parse_packet, serialize_packet

from app.media import aiortc_adapter as adapter


class _Dtls:
    """Just enough of a DTLS transport for aiortc's SCTP transport: records what it sends."""

    state = "connected"
    _role = "client"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def _send_data(self, data: bytes) -> None:
        self.sent.append(data)

    def _register_data_receiver(self, receiver: object) -> None:
        pass


def _init_from_peer(tag: int) -> bytes:
    chunk = InitChunk()
    chunk.initiate_tag = tag
    chunk.advertised_rwnd = 131072
    chunk.outbound_streams = chunk.inbound_streams = 65535
    chunk.initial_tsn = 1234
    return serialize_packet(5000, 5000, 0, chunk)


def _retried_init_tag() -> int:
    async def run() -> int:
        dtls = _Dtls()
        sctp = RTCSctpTransport(dtls)  # type: ignore[arg-type]
        await sctp.start(None, 5000)  # sends our INIT
        await sctp._handle_data(_init_from_peer(0xABCDEF01))  # both ends started at once
        # Our INIT ACK and the peer's are lost on a full queue: T1 fires, INIT goes again.
        sctp._t1_expired()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        tag, chunks = None, []
        for data in dtls.sent:
            _, _, tag, chunks = parse_packet(data)
        assert isinstance(chunks[0], InitChunk)
        sctp._t1_cancel()
        return int(tag)

    return asyncio.run(run())


def test_a_retransmitted_init_carries_tag_zero() -> None:
    adapter.fix_sctp_init_tag()
    try:
        assert _retried_init_tag() == 0
    finally:
        adapter.fix_sctp_init_tag(False)
    assert _retried_init_tag() == 0xABCDEF01  # aiortc's own: the peer drops it
