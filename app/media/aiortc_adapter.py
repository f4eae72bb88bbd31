"""The one place that touches aiortc's and aioice's private internals.

The low-band layer replaces pieces aiortc offers no hook for: the encoders (a sender's
``__encoder`` slot), the receive buffers (a receiver's ``__jitter_buffer`` and what its
decoder thread reads), NACK handling (the receiver's NACK list, the sender's retransmission
history and ``_retransmit``), the RTP tap for link feedback, the RTCP sender-report tap and
the decoder's timestamp origin for lip sync, the RTP timestamp of the sender reports we
send, the verification tag of a retransmitted SCTP INIT, and aioice's consent checks and
host-address gathering. Each of those is reached through a function here, so the next
aiortc upgrade is one file to read.

They were written against exactly the versions in ``PINNED``; ``check_pinned_versions``
runs when this module is imported (the first time the media stack loads) and raises
``AiortcVersionError`` naming both versions on any other, instead of a call that quietly
falls back to aiortc's behaviour or fails half-way through. ``aiortc.jitterbuffer
.JitterBuffer``'s protected fields (``_origin``, ``_packets``, ``_capacity``,
``_remove_frame``, ``remove``), which ``DeadlineVideoBuffer`` subclasses, are covered by
the same pin and checked by ``check_contract``.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from importlib import metadata
from typing import Any, cast

import aioice.ice
from aiortc import clock
from aiortc.codecs import depayload
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpreceiver import RTCRtpReceiver, TimestampMapper
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtcsctptransport import InitChunk, RTCSctpTransport, serialize_packet
from aiortc.rtp import RtcpSrPacket, RtpPacket

PINNED = {"aiortc": "1.16.0", "aioice": "0.13.0"}


class AiortcVersionError(RuntimeError):
    """An aiortc/aioice other than the one the low-band layer was written against."""


def check_pinned_versions(installed: dict[str, str] | None = None) -> None:
    """Raise ``AiortcVersionError`` unless the pinned versions are installed."""
    for name, pinned in PINNED.items():
        found = installed.get(name) if installed is not None else metadata.version(name)
        if found != pinned:
            raise AiortcVersionError(
                f"YiQiao's call layer patches {name} {pinned} internals, but {name} {found} is "
                f"installed; install {name}=={pinned} (requirements.lock) or port "
                "app/media/aiortc_adapter.py to the new version"
            )


def check_contract() -> None:
    """The protected members of aiortc's JitterBuffer that ``DeadlineVideoBuffer`` uses."""
    buffer = JitterBuffer(capacity=16, is_video=True)
    for name in ("_origin", "_packets", "_capacity", "_remove_frame", "remove"):
        if not hasattr(buffer, name):
            raise AiortcVersionError(f"aiortc's JitterBuffer has no {name}")
    if not hasattr(TimestampMapper(), "_origin"):
        raise AiortcVersionError("aiortc's TimestampMapper has no _origin")
    for name in ("_next_encoded_frame", "_send_rtcp"):
        if not hasattr(RTCRtpSender, name):
            raise AiortcVersionError(f"aiortc's RTCRtpSender has no {name}")
    if not hasattr(RTCSctpTransport, "_send_chunk"):
        raise AiortcVersionError("aiortc's RTCSctpTransport has no _send_chunk")


check_pinned_versions()
check_contract()

_ENCODER = "_RTCRtpSender__encoder"
_RTP_HISTORY = "_RTCRtpSender__rtp_history"
_LAST_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
_EXTENSIONS_MAP = "_RTCRtpSender__rtp_header_extensions_map"
_JITTER = "_RTCRtpReceiver__jitter_buffer"
_CODECS = "_RTCRtpReceiver__codecs"
_MAPPER = "_RTCRtpReceiver__timestamp_mapper"
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
_NACKS = "_RTCRtpReceiver__nack_generator"


def _require(obj: object, name: str) -> None:
    if not hasattr(obj, name):
        raise AiortcVersionError(f"aiortc changed: {type(obj).__name__} has no {name}")


# ---- senders ---------------------------------------------------------------------------


def set_encoder(sender: RTCRtpSender, encoder: object) -> None:
    """Use ``encoder`` instead of the one aiortc would create when the sender starts."""
    _require(sender, _ENCODER)
    setattr(sender, _ENCODER, encoder)


def encoder(sender: RTCRtpSender) -> object | None:
    """The sender's encoder (ours after ``set_encoder``; None before aiortc made one)."""
    return getattr(sender, _ENCODER, None)


# aiortc awaits it directly, aioice wraps query_consent() in create_task: coroutines, not
# just awaitables.
RetransmitFn = Callable[[int], Coroutine[Any, Any, None]]


def wrap_retransmit(
    sender: RTCRtpSender, wrap: Callable[[RetransmitFn, dict[int, RtpPacket]], RetransmitFn]
) -> None:
    """Route the sender's NACK answers through ``wrap(original, rtp_history)``.

    ``rtp_history`` maps ``seq % RTP_HISTORY_SIZE`` to the packet sent with it."""
    _require(sender, _RTP_HISTORY)
    history = getattr(sender, _RTP_HISTORY)
    # An instance attribute shadows the method aiortc calls as self._retransmit(seq); mypy
    # types the slot as the unbound method (self, seq), hence "assignment" besides
    # "method-assign" for a callable that takes only seq.
    sender._retransmit = wrap(sender._retransmit, history)  # type: ignore[method-assign,assignment]


def align_sender_reports(sender: RTCRtpSender, sample_at: Callable[[float], int | None]) -> None:
    """Send RTCP sender reports whose RTP timestamp is that of the sample captured at the
    report's NTP time (libwebrtc's pairing), not the last sent packet's first sample.

    ``sample_at(t)`` gives the encoder's timestamp (before aiortc adds its random origin) of
    the sample captured at monotonic time ``t``, or None while unknown (the report then goes
    out as aiortc made it). The NTP time is left alone: the far end's receiver reports echo
    it (LSR) and aiortc computes the round trip from that."""
    _require(sender, _LAST_RTP_TIMESTAMP)
    next_encoded_frame = sender._next_encoded_frame
    send_rtcp = sender._send_rtcp
    # aiortc keeps its random timestamp origin in a local of _run_rtp; learn it from the
    # sent packets: when _run_rtp asks for the next frame, it has sent all of the last one.
    last_timestamp: int | None = None
    origin: int | None = None

    async def tracked(codec: Any) -> Any:
        nonlocal last_timestamp, origin
        if last_timestamp is not None:
            origin = (getattr(sender, _LAST_RTP_TIMESTAMP) - last_timestamp) % (1 << 32)
        frame = await next_encoded_frame(codec)
        if frame is not None:
            last_timestamp = frame.timestamp
        return frame

    async def aligned(packets: list[Any]) -> None:
        for packet in packets:
            if origin is None or not isinstance(packet, RtcpSrPacket):
                continue
            info = packet.sender_info
            ntp_age_s = (clock.current_ntp_time() - info.ntp_timestamp) / (1 << 32)
            sample = sample_at(time.monotonic() - ntp_age_s)
            if sample is not None:
                info.rtp_timestamp = (origin + sample) % (1 << 32)
        await send_rtcp(packets)

    sender._next_encoded_frame = tracked  # type: ignore[method-assign]
    sender._send_rtcp = aligned  # type: ignore[method-assign]


def watch_sent_frames(
    sender: RTCRtpSender, sent: Callable[[list[RtpPacket]], Coroutine[Any, Any, None]]
) -> None:
    """Await ``sent(packets)`` with the RTP packets of each frame once aiortc has sent them
    all (when its send loop asks for the next frame), before that frame is awaited."""
    for name in (_RTP_HISTORY, _LAST_RTP_TIMESTAMP):
        _require(sender, name)
    history: dict[int, RtpPacket] = getattr(sender, _RTP_HISTORY)
    next_encoded_frame = sender._next_encoded_frame
    pending = False

    async def watched(codec: Any) -> Any:
        nonlocal pending
        if pending:
            pending = False
            timestamp = getattr(sender, _LAST_RTP_TIMESTAMP)
            packets = [p for p in history.values() if p.timestamp == timestamp]
            if packets:
                last = max(packets, key=lambda p: (p.marker, p.sequence_number))
                packets.sort(key=lambda p: (last.sequence_number - p.sequence_number) % 65536)
                packets.reverse()
                await sent(packets)
        frame = await next_encoded_frame(codec)
        pending = frame is not None and bool(frame.payloads)
        return frame

    sender._next_encoded_frame = watched  # type: ignore[method-assign]


async def send_rtp(sender: RTCRtpSender, packet: RtpPacket) -> None:
    """Send one extra RTP packet on ``sender``'s transport (SRTP-protected like its own),
    with the header extensions negotiated for it."""
    _require(sender, _EXTENSIONS_MAP)
    await sender.transport._send_rtp(packet.serialize(getattr(sender, _EXTENSIONS_MAP)))


# ---- receivers -------------------------------------------------------------------------


def filter_rtp(receiver: RTCRtpReceiver, handle_as: Callable[[RtpPacket], list[RtpPacket]]) -> None:
    """aiortc handles ``handle_as(packet)`` instead of each RTP packet ``receiver`` gets:
    nothing (a packet that is ours, not the codec's), the packet, or more."""
    handle = receiver._handle_rtp_packet

    async def filtered(packet: RtpPacket, arrival_time_ms: int) -> None:
        for p in handle_as(packet):
            await handle(p, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = filtered  # type: ignore[method-assign]


def prepare_rebuilt(receiver: RTCRtpReceiver | None, packet: RtpPacket) -> bool:
    """Make a packet we rebuilt (parity) ready for the jitter buffer as aiortc makes a
    received one: depayloaded for its codec, and no longer asked for by NACK. False when
    its codec is unknown or its payload does not parse."""
    codec = getattr(receiver, _CODECS, {}).get(packet.payload_type) if receiver else None
    if codec is None:
        return False
    try:
        packet._data = depayload(codec, packet.payload) if packet.payload else b""  # type: ignore[attr-defined]
    except ValueError:
        return False
    missing = nack_missing(receiver)
    if missing is not None:
        missing.discard(packet.sequence_number)
    return True


def set_jitter_buffer(receiver: RTCRtpReceiver, buffer: object) -> None:
    """Replace the receiver's jitter buffer (before any packet arrived)."""
    _require(receiver, _JITTER)
    setattr(receiver, _JITTER, buffer)


def jitter_buffer(receiver: RTCRtpReceiver) -> object | None:
    """The receiver's jitter buffer (ours after ``set_jitter_buffer``)."""
    return getattr(receiver, _JITTER, None)


@dataclass
class DecoderInput:
    """What a receiver's decoder thread reads: frames go into ``queue`` as (codec, frame)."""

    codecs: dict[int, Any]
    timestamp_mapper: Any
    queue: queue.Queue


def check_decoder_input(receiver: RTCRtpReceiver) -> None:
    """Fail now, not mid-call, if the receiver's decoder plumbing is not where we expect."""
    for name in (_CODECS, _MAPPER, _DECODER_QUEUE):
        _require(receiver, name)


def decoder_input(receiver: RTCRtpReceiver) -> DecoderInput | None:
    """The decoder's input, once its thread runs (None before)."""
    if getattr(receiver, _DECODER_THREAD, None) is None:
        return None
    return DecoderInput(
        getattr(receiver, _CODECS), getattr(receiver, _MAPPER), getattr(receiver, _DECODER_QUEUE)
    )


def nack_missing(receiver: RTCRtpReceiver | None) -> set[int] | None:
    """The (mutable) set of packets aiortc's NACKs ask for; None without NACKs."""
    nacks = getattr(receiver, _NACKS, None)
    return None if nacks is None else nacks.missing


def send_nack(
    receiver: RTCRtpReceiver, ssrc: int, sequence_numbers: list[int]
) -> Coroutine[Any, Any, None]:
    """Send a NACK for ``sequence_numbers`` of ``ssrc`` now."""
    return receiver._send_rtcp_nack(ssrc, sequence_numbers)


def tap_rtp(receiver: RTCRtpReceiver, seen: Callable[[RtpPacket], None]) -> None:
    """Call ``seen(packet)`` for every RTP packet before aiortc handles it."""

    def see(packet: RtpPacket) -> list[RtpPacket]:
        seen(packet)
        return [packet]

    filter_rtp(receiver, see)


def tap_sender_reports(receiver: RTCRtpReceiver, seen: Callable[[int, int], None]) -> None:
    """Call ``seen(ntp_timestamp, rtp_timestamp)`` for every RTCP sender report of the
    stream ``receiver`` gets, before aiortc handles it.

    aiortc's sender pairs the RTP timestamp of the last packet it sent with the NTP time it
    sent it (``RTCRtpSender._run_rtcp``), not with its capture time; ours fix the audio
    stream's pairing (``align_sender_reports``)."""
    handle = receiver._handle_rtcp_packet

    async def tapped(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            seen(packet.sender_info.ntp_timestamp, packet.sender_info.rtp_timestamp)
        await handle(packet)

    receiver._handle_rtcp_packet = tapped  # type: ignore[method-assign]


def timestamp_origin(receiver: RTCRtpReceiver) -> int | None:
    """The RTP timestamp aiortc's decoder path maps to pts 0 (None before the first frame)."""
    origin = getattr(getattr(receiver, _MAPPER, None), "_origin", None)
    return None if origin is None else origin % (1 << 32)


def deliver_to_track(receiver: RTCRtpReceiver | None, frame: object) -> bool:
    """Put a decoded frame straight into the receiver's remote track (False if none yet)."""
    track = getattr(receiver, "_track", None)
    if track is None:
        return False
    track._queue.put_nowait(frame)
    return True


def packet_bytes(packet: RtpPacket) -> bytes:
    """The RTP payload as received (aiortc keeps it as ``_data`` after depacketizing)."""
    return packet._data  # type: ignore[attr-defined]


# ---- SCTP (the data channel) -------------------------------------------------------------

_original_send_chunk = RTCSctpTransport._send_chunk
_SCTP_DTLS = "_RTCSctpTransport__transport"


async def _send_chunk_init_tag_zero(self: RTCSctpTransport, chunk: Any) -> None:
    if not isinstance(chunk, InitChunk):
        await _original_send_chunk(self, chunk)
        return
    # RFC 9260 §8.5.1: a packet carrying INIT has verification tag 0. aiortc stamps every
    # chunk with the peer's tag, which it learns from the peer's own INIT (both ends start
    # the association at once): once both INIT ACKs were lost — likely when a call's first
    # keyframes fill link c's queue —, every INIT it retransmitted carried that tag, the
    # peer dropped each one ("Bad verification tag"), and the data channel never opened
    # (no link feedback, no parity offer) for the whole call.
    packet = serialize_packet(self._local_port, cast(int, self._remote_port), 0, chunk)
    await getattr(self, _SCTP_DTLS)._send_data(packet)


def fix_sctp_init_tag(enabled: bool = True) -> None:
    """Send SCTP INIT chunks with verification tag 0, process-wide (False: aiortc's own)."""
    RTCSctpTransport._send_chunk = (  # type: ignore[method-assign]
        _send_chunk_init_tag_zero if enabled else _original_send_chunk
    )


# ---- aioice ----------------------------------------------------------------------------

_original_query_consent = aioice.ice.Connection.query_consent
_original_host_addresses = aioice.ice.get_host_addresses


def patch_consent_checks(
    query_consent: Callable[..., Coroutine[Any, Any, None]] | None,
) -> None:
    """Replace aioice's consent-check loop process-wide (None: aioice's own)."""
    aioice.ice.Connection.query_consent = query_consent or _original_query_consent  # type: ignore[method-assign]


def nominated_pairs(connection: aioice.ice.Connection) -> list[Any]:
    """The candidate pairs ICE nominated (one per component)."""
    return list(connection._nominated.values())


def consent_expired(connection: aioice.ice.Connection) -> Awaitable[None]:
    """Forget the consent task (it is ending) and close the connection, as aioice does."""
    connection._query_consent_task = None
    return connection.close()


def restrict_host_addresses(addresses: list[str] | None) -> None:
    """Gather host candidates only on ``addresses`` (None: aioice's own choice)."""
    if addresses is None:
        aioice.ice.get_host_addresses = _original_host_addresses
    else:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(addresses)
