"""Forward error correction for video between our own peers: one XOR parity packet per
small group of video packets, so a single loss in a group is rebuilt as soon as the group's
parity arrives instead of one NACK round trip later.

Why: on a 300 ms round trip a retransmission lands ~0.35–0.4 s after the packet was due, so
the receiver either holds every frame that long (glass-to-glass ~0.75 s on link b, video
~0.6 s behind the voice or the voice held back as much) or freezes at every loss. A parity
packet covering the last few packets repairs one loss within about two frame intervals.

Like ULPFEC (RFC 5109) each parity packet XORs the covered packets' payloads, lengths,
timestamps and markers; unlike it, the group is a run of consecutive sequence numbers given
by (media SSRC, first sequence number, count), and the parity travels as an RTP packet of
its own SSRC with the video's payload type, recognised by its first bytes (``MAGIC``: the
``Y`` byte has the VP8 payload descriptor's reserved bit set, so no VP8 packet starts so).
A stock receiver would feed such packets to its jitter buffer, so they are sent only to a
peer that said it repairs from them (``media.repair`` on the data channel); Chrome and stock
aiortc never do, and NACK retransmission stays as the second line for the rest.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from dataclasses import dataclass

from aiortc.rtp import RtpPacket

MAGIC = b"YQP\x01"
_HEADER = struct.Struct("!4sIHBBIH")  # magic, media ssrc, first seq, count, marker, ts, len


def is_parity(payload: bytes) -> bool:
    """Whether an RTP payload is one of our parity packets."""
    return payload[:4] == MAGIC


def _xor_into(acc: bytearray, data: bytes) -> None:
    if len(data) > len(acc):
        acc.extend(bytes(len(data) - len(acc)))
    view = memoryview(acc)
    n = len(data)
    view[:n] = (int.from_bytes(view[:n], "big") ^ int.from_bytes(data, "big")).to_bytes(n, "big")


def parity_payload(packets: list[RtpPacket]) -> bytes:
    """The parity of ``packets`` (consecutive sequence numbers of one SSRC)."""
    marker = ts = length = 0
    acc = bytearray()
    for p in packets:
        marker ^= p.marker
        ts ^= p.timestamp
        length ^= len(p.payload)
        _xor_into(acc, p.payload)
    head = _HEADER.pack(
        MAGIC, packets[0].ssrc, packets[0].sequence_number, len(packets), marker, ts, length
    )
    return head + bytes(acc)


@dataclass
class ParityGroup:
    """A parsed parity packet: what it covers and the XOR of it."""

    ssrc: int
    first: int
    count: int
    marker: int
    timestamp: int
    length: int
    data: bytes
    payload_type: int
    received_at: float

    @property
    def sequence_numbers(self) -> list[int]:
        return [(self.first + i) & 0xFFFF for i in range(self.count)]


def parse_parity(packet: RtpPacket, now: float) -> ParityGroup | None:
    """The group a parity packet covers (None if it is not a well-formed one)."""
    payload = packet.payload
    if len(payload) < _HEADER.size or not is_parity(payload):
        return None
    _, ssrc, first, count, marker, ts, length = _HEADER.unpack_from(payload)
    if count == 0:
        return None
    return ParityGroup(
        ssrc, first, count, marker, ts, length, payload[_HEADER.size :], packet.payload_type, now
    )


@dataclass(frozen=True)
class Grouping:
    """When a parity group closes: at the end of a frame once it holds ``min_packets``
    packets or ``max_frames`` frames, and every ``max_packets`` packets inside a large frame
    (a keyframe)."""

    min_packets: int
    max_frames: int
    max_packets: int


# ≥ 12 fps (320×240 on link b): a frame is one or two packets, groups of ~4 cost ~25–30 %
# of the video bitrate and a repair comes ≤ 3 frames (~0.25 s) later.
WIDE_GROUPS = Grouping(min_packets=5, max_frames=4, max_packets=8)
# < 12 fps (160×120 on link c): four frames span 0.4–0.8 s, no faster than a NACK over a
# 600 ms round trip; pairs of frames are repaired one frame interval later, for ~50 % of
# the video bitrate (two 1-packet frames: the parity is as long as the longer one).
PAIR_GROUPS = Grouping(min_packets=2, max_frames=2, max_packets=4)
# With temporal layers (``app.media.temporal_layers``) only base frames need to arrive: each
# one is a group of its own (a 1-packet frame's parity is its copy), upper frames get none.
BASE_GROUPS = Grouping(min_packets=1, max_frames=1, max_packets=4)


class ParityEncoder:
    """Groups the video packets a sender sent, frame by frame, and says when a group's
    parity is due (``Grouping``). Fewer packets per parity repair more, sooner, but cost
    more."""

    RECENT_DECAY = 0.9  # per group: the overhead follows the grouping within ~10 groups

    def __init__(self, grouping: Grouping = WIDE_GROUPS) -> None:
        self.grouping = grouping
        self._group: list[RtpPacket] = []
        self._frames = 0
        self.media_bytes = 0
        self.parity_bytes = 0
        self._recent_media = 0.0
        self._recent_parity = 0.0
        self._recent_group_media = 0

    def add_frame(self, packets: list[RtpPacket]) -> list[bytes]:
        """The packets of one sent frame, in order; returns the parity payloads to send."""
        out: list[bytes] = []
        g = self.grouping
        for p in packets:
            last = self._group[-1] if self._group else None
            if last is not None and (
                p.ssrc != last.ssrc or p.sequence_number != (last.sequence_number + 1) & 0xFFFF
            ):
                out.append(self._close())  # not contiguous: what was there is one group
            self._group.append(p)
            self.media_bytes += len(p.payload)
            self._recent_group_media += len(p.payload)
            if len(self._group) >= g.max_packets:
                out.append(self._close())
        if self._group:
            self._frames += 1
            if len(self._group) >= g.min_packets or self._frames >= g.max_frames:
                out.append(self._close())
        return out

    def pass_frame(self, packets: list[RtpPacket]) -> None:
        """A sent frame no parity covers (an upper-layer frame): it still counts as video."""
        size = sum(len(p.payload) for p in packets)
        self.media_bytes += size
        self._recent_group_media += size

    def overhead(self) -> float:
        """Parity bytes per media byte over the last groups (0 before any)."""
        return self._recent_parity / self._recent_media if self._recent_media else 0.0

    def _close(self) -> bytes:
        payload = parity_payload(self._group)
        self._group, self._frames = [], 0
        self.parity_bytes += len(payload)
        d = self.RECENT_DECAY
        self._recent_media = d * self._recent_media + self._recent_group_media
        self._recent_parity = d * self._recent_parity + len(payload)
        self._recent_group_media = 0
        return payload


class ParityDecoder:
    """Keeps the recent video packets and the parity groups not yet usable.

    A receiver takes parity packets out before aiortc sees them (``take_parity``: aiortc
    would count them into its NACK and jitter-buffer state) and adds the video packets where
    aiortc hands them to the jitter buffer (``add_media``). aiortc unwraps an RTX
    retransmission only after any RTP filter, so a parity decoder in front of it never saw
    a retransmitted packet as itself, and a group with two losses stayed locked after one
    of them was retransmitted."""

    KEEP_PACKETS = 1024
    KEEP_GROUP_S = 1.5  # a retransmission may still complete a group with two losses

    def __init__(self) -> None:
        self._packets: dict[tuple[int, int], RtpPacket] = {}
        self._order: deque[tuple[int, int]] = deque()
        self._pending: deque[ParityGroup] = deque()
        self.parities = 0
        self.recovered = 0
        self._rebuilt: deque[tuple[int, int]] = deque(maxlen=64)

    def was_rebuilt(self, packet: RtpPacket) -> bool:
        """Whether ``packet`` is one this decoder rebuilt (recently)."""
        return (packet.ssrc, packet.sequence_number) in self._rebuilt

    def take_parity(self, packet: RtpPacket, now: float | None = None) -> list[RtpPacket] | None:
        """A parity packet is ours: keep its group, return the packet it rebuilds now (if
        any). ``None`` for any other packet (the codec's: hand it on unchanged)."""
        if not is_parity(packet.payload):
            return None
        now = time.monotonic() if now is None else now
        group = parse_parity(packet, now)
        if group is None:
            return []  # malformed parity: never the codec's
        self.parities += 1
        rebuilt = self._try(group)
        if rebuilt is None and self._missing(group):
            self._pending.append(group)
        return [rebuilt] if rebuilt is not None else []

    def add_media(self, packet: RtpPacket, now: float | None = None) -> list[RtpPacket]:
        """Keep a video packet (as the codec sees it: a retransmission already unwrapped from
        RTX); return the packets it let us rebuild."""
        now = time.monotonic() if now is None else now
        self._keep(packet)
        out = []
        while self._pending and now - self._pending[0].received_at > self.KEEP_GROUP_S:
            self._pending.popleft()
        for group in list(self._pending):
            if group.ssrc != packet.ssrc:
                continue
            rebuilt = self._try(group)
            if rebuilt is not None or not self._missing(group):
                self._pending.remove(group)
            if rebuilt is not None:
                out.append(rebuilt)
        return out

    def feed(self, packet: RtpPacket, now: float | None = None) -> list[RtpPacket]:
        """Both in one (a packet stream without RTX): the packets to hand on."""
        taken = self.take_parity(packet, now)
        if taken is not None:
            return taken
        return [packet, *self.add_media(packet, now)]

    def _keep(self, packet: RtpPacket) -> None:
        key = (packet.ssrc, packet.sequence_number)
        if key not in self._packets:
            self._order.append(key)
        self._packets[key] = packet
        while len(self._order) > self.KEEP_PACKETS:
            self._packets.pop(self._order.popleft(), None)

    def _missing(self, group: ParityGroup) -> list[int]:
        return [s for s in group.sequence_numbers if (group.ssrc, s) not in self._packets]

    def _try(self, group: ParityGroup) -> RtpPacket | None:
        """The one missing packet of ``group``, rebuilt (None unless exactly one is)."""
        missing = self._missing(group)
        if len(missing) != 1:
            return None
        marker, ts, length = group.marker, group.timestamp, group.length
        acc = bytearray(group.data)
        payload_type = group.payload_type
        for s in group.sequence_numbers:
            p = self._packets.get((group.ssrc, s))
            if p is None:
                continue
            marker ^= p.marker
            ts ^= p.timestamp
            length ^= len(p.payload)
            payload_type = p.payload_type
            _xor_into(acc, p.payload)
        if length > len(acc):
            return None  # inconsistent parity: leave the loss to NACK
        rebuilt = RtpPacket(
            payload_type=payload_type,
            marker=marker & 1,
            sequence_number=missing[0],
            timestamp=ts,
            ssrc=group.ssrc,
            payload=bytes(acc[:length]),
        )
        self._keep(rebuilt)
        self._rebuilt.append((group.ssrc, rebuilt.sequence_number))
        self.recovered += 1
        return rebuilt
