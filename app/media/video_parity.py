"""Forward error correction for video between our own peers: per small group of video
packets an XOR parity packet P and, where both ends speak parity version 2, a second one Q,
so one loss (P) or any two losses (P and Q) in a group are rebuilt as soon as the group's
parity arrives instead of one NACK round trip later.

Why: on a 300 ms round trip a retransmission lands ~0.35–0.4 s after the packet was due, so
the receiver either holds every frame that long (glass-to-glass ~0.75 s on link b, video
~0.6 s behind the voice or the voice held back as much) or freezes at every loss. A parity
packet covering the last few packets repairs one loss within about two frame intervals.
With P alone a group with two losses (two media packets, or one and the parity) still
waited a round trip: at 3 % loss about one freeze a minute on link b (the others there are
repairs that come late because a group closes late, and CPU or queue stalls; see
``WIDE_GROUPS_FOR_Q_PEERS``).

P, like ULPFEC (RFC 5109), XORs the covered packets' payloads, lengths, timestamps and
markers. Q is RAID-6's second syndrome over the same data: each covered packet ``i`` is the
byte string D_i = marker (1 byte), timestamp (4), payload length (2), payload (zero-padded
to the longest), and Q = Σ g^i · D_i over GF(2^8) (g = 2, polynomial 0x11D). With P one
missing D_x is P ⊕ Σ D_i; with Q alone it is g^-x · (Q ⊕ Σ g^i D_i); two missing x < y are
solved from both (``_solve_two``). A rebuilt packet is accepted only if its marker is 0 or 1,
its length fits and its padding is zero, so a garbled parity packet is dropped, not decoded.

The group is a run of consecutive sequence numbers given by (media SSRC, first sequence
number, count), and the parity travels as an RTP packet of its own SSRC with the video's
payload type, recognised by its first bytes (``MAGIC``: the ``Y`` byte has the VP8 payload
descriptor's reserved bit set, so no VP8 packet starts so). A Q packet starts like a P packet
whose count is 0, which parity-version-1 decoders drop as malformed, and is sent only to a
peer that said it decodes it (``media.repair`` ``parity_version`` ≥ 2). A stock receiver
would feed parity packets to its jitter buffer, so none are sent to a peer that did not say
it repairs from them; Chrome and stock aiortc never do, and NACK retransmission stays as the
line behind for three losses and more.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from dataclasses import dataclass, replace

import numpy as np
from aiortc.rtp import RtpPacket

MAGIC = b"YQP\x01"
PARITY_VERSION = 2  # what this decoder rebuilds from: 1 = P, 2 = P and Q
# P: magic, media ssrc, first seq, count; then P of the coded header (marker, ts, len).
_P_HEADER = struct.Struct("!4sIHB")
# Q: magic, media ssrc, first seq, 0 (a version-1 decoder drops it), count; then Q.
_Q_HEADER = struct.Struct("!4sIHBB")
_CODED_HEADER = struct.Struct("!BIH")  # marker, timestamp, payload length: D_i's first bytes
_MIN_P = _P_HEADER.size + _CODED_HEADER.size


def is_parity(payload: bytes) -> bool:
    """Whether an RTP payload is one of our parity packets (P or Q)."""
    return payload[:4] == MAGIC


# ---- GF(2^8), polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D), generator 2 ---------------


def _gf_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    exp = np.zeros(510, dtype=np.uint8)
    log = np.zeros(256, dtype=np.int32)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    exp[255:] = exp[:255]
    # MUL[c] is the 256-entry table "times c": a whole row is multiplied by MUL[c][row].
    mul = exp[(log[:, None] + log[None, :]) % 255]
    mul[0, :] = 0
    mul[:, 0] = 0
    return exp, log, mul


_EXP, _LOG, _MUL = _gf_tables()


def _gf_inv(a: int) -> int:
    return int(_EXP[(255 - int(_LOG[a])) % 255])


def _gf_mul(a: int, b: int) -> int:
    return int(_MUL[a, b])


def _g_pow(i: int) -> int:
    return int(_EXP[i % 255])


def _coded(packet: RtpPacket, width: int) -> np.ndarray | None:
    """D_i of ``packet`` zero-padded to ``width`` bytes (None if it does not fit)."""
    payload = packet.payload
    if _CODED_HEADER.size + len(payload) > width:
        return None
    row = np.zeros(width, dtype=np.uint8)
    head = _CODED_HEADER.pack(packet.marker & 1, packet.timestamp, len(payload))
    row[: _CODED_HEADER.size] = np.frombuffer(head, dtype=np.uint8)
    row[_CODED_HEADER.size : _CODED_HEADER.size + len(payload)] = np.frombuffer(
        payload, dtype=np.uint8
    )
    return row


def parity_payloads(packets: list[RtpPacket], second: bool = False) -> list[bytes]:
    """P (and Q if ``second``) of ``packets`` (consecutive sequence numbers of one SSRC)."""
    width = _CODED_HEADER.size + max(len(p.payload) for p in packets)
    rows = np.zeros((len(packets), width), dtype=np.uint8)
    for i, p in enumerate(packets):
        row = _coded(p, width)
        assert row is not None
        rows[i] = row
    ssrc, first, count = packets[0].ssrc, packets[0].sequence_number, len(packets)
    out = [_P_HEADER.pack(MAGIC, ssrc, first, count) + np.bitwise_xor.reduce(rows).tobytes()]
    if second:
        q = rows[0].copy()
        for i in range(1, count):
            q ^= _MUL[_g_pow(i)][rows[i]]
        out.append(_Q_HEADER.pack(MAGIC, ssrc, first, 0, count) + q.tobytes())
    return out


def parity_payload(packets: list[RtpPacket]) -> bytes:
    """The XOR parity P of ``packets``."""
    return parity_payloads(packets)[0]


@dataclass
class ParityGroup:
    """A parsed parity packet: what it covers and its coded bytes (P or Q of the D_i)."""

    ssrc: int
    first: int
    count: int
    second: bool  # Q, not P
    coded: bytes
    payload_type: int
    received_at: float

    @property
    def sequence_numbers(self) -> list[int]:
        return [(self.first + i) & 0xFFFF for i in range(self.count)]

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.ssrc, self.first, self.count)


def parse_parity(packet: RtpPacket, now: float) -> ParityGroup | None:
    """The group a parity packet covers (None if it is not a well-formed one)."""
    payload = packet.payload
    if len(payload) < _MIN_P or not is_parity(payload):
        return None
    _, ssrc, first, count = _P_HEADER.unpack_from(payload)
    if count:
        coded = payload[_P_HEADER.size :]
        return ParityGroup(ssrc, first, count, False, coded, packet.payload_type, now)
    if len(payload) < _Q_HEADER.size + _CODED_HEADER.size:
        return None
    _, ssrc, first, _zero, count = _Q_HEADER.unpack_from(payload)
    if count == 0:
        return None
    coded = payload[_Q_HEADER.size :]
    return ParityGroup(ssrc, first, count, True, coded, packet.payload_type, now)


@dataclass(frozen=True)
class Grouping:
    """When a parity group closes: at the end of a frame once it holds ``min_packets``
    packets or ``max_frames`` frames, and every ``max_packets`` packets inside a large frame
    (a keyframe). ``second_parity``: each group also gets Q (two losses rebuilt).
    ``upper_layers``: groups run over upper temporal-layer frames too; otherwise only base
    frames are covered (``app.media.lowband.ParitySender``)."""

    min_packets: int
    max_frames: int
    max_packets: int
    second_parity: bool = False
    upper_layers: bool = False


# ≥ 12 fps (320×240 on link b): a frame is one or two packets, groups of ~4 cost ~25–30 %
# of the video bitrate and a repair comes ≤ 3 frames (~0.2 s) later.
WIDE_GROUPS = Grouping(min_packets=5, max_frames=4, max_packets=8, upper_layers=True)
# How late a repair comes matters as much as whether it comes: a frame shown more than
# ~150 ms after its turn is a freeze (the playout delay is at its 30 ms floor while parity
# arrives), and a loss in a group's first frame is rebuilt only when the group closes: at
# b's ~1 packet a frame, 200 ms late with 4-frame groups, ~133 ms plus the parity packets'
# own ~30 ms each with 3 (a freeze at a 30 ms playout floor; the playout clock now holds
# frames by the latest parity-late one: docs/calls.md, "Second parity Q").
# - P only, 3 frames: ~40 % of the video bitrate on b, ~1.6 NACK waits a minute (model);
SHORT_GROUPS = Grouping(min_packets=4, max_frames=3, max_packets=8, upper_layers=True)
# - P and Q, 3 frames: ~80 % on b, ~0.25 NACK waits a minute (model; none in 5 real runs).
WIDE_PQ_GROUPS = Grouping(
    min_packets=5, max_frames=3, max_packets=8, second_parity=True, upper_layers=True
)
# ≥ 12 fps to a peer that decodes Q (parity version 2): THE switch for link b's default —
# WIDE_GROUPS (P, 4 frames: as before), SHORT_GROUPS (P, 3 frames) or WIDE_PQ_GROUPS (P+Q,
# 3 frames). MediaConfig.q_peer_wide_groups overrides it per call (bench/call_links.py
# --wide-groups NAME). A peer that does not decode Q keeps WIDE_GROUPS.
# SHORT_GROUPS, measured with the playout clock that remembers parity-late frames (link b,
# bench on its own core, 2026-11-30 15:0x UTC): 0-1 freezes a minute in three runs, g2g
# 278-287 ms median, PSNR 29.5-35.5 dB; WIDE_GROUPS 3 freezes, 477 ms (its rebuilt frames
# come up to ~0.3 s late and hold the picture); WIDE_PQ_GROUPS 3 freezes at ~80 % overhead.
WIDE_GROUPS_FOR_Q_PEERS = SHORT_GROUPS
# < 12 fps (160×120 on link c): four frames span 0.4–0.8 s, no faster than a NACK over a
# 600 ms round trip; pairs of frames are repaired one frame interval later, for ~50 % of
# the video bitrate (two 1-packet frames: the parity is as long as the longer one).
PAIR_GROUPS = Grouping(min_packets=2, max_frames=2, max_packets=4)
# With temporal layers (``app.media.temporal_layers``) only base frames need to arrive: each
# one is a group of its own (a 1-packet frame's parity is its copy), upper frames get none.
BASE_GROUPS = Grouping(min_packets=1, max_frames=1, max_packets=4)


def without_second_parity(grouping: Grouping) -> Grouping:
    """``grouping`` with P only (for a peer that does not decode Q)."""
    return replace(grouping, second_parity=False) if grouping.second_parity else grouping


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
        self.parity_bytes = 0  # P and Q
        self.second_parities = 0  # Q packets made
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
                out.extend(self._close())  # not contiguous: what was there is one group
            self._group.append(p)
            self.media_bytes += len(p.payload)
            self._recent_group_media += len(p.payload)
            if len(self._group) >= g.max_packets:
                out.extend(self._close())
        if self._group:
            self._frames += 1
            if len(self._group) >= g.min_packets or self._frames >= g.max_frames:
                out.extend(self._close())
        return out

    def pass_frame(self, packets: list[RtpPacket]) -> None:
        """A sent frame no parity covers (an upper-layer frame): it still counts as video."""
        size = sum(len(p.payload) for p in packets)
        self.media_bytes += size
        self._recent_group_media += size

    def overhead(self) -> float:
        """Parity bytes (P and Q) per media byte over the last groups (0 before any)."""
        return self._recent_parity / self._recent_media if self._recent_media else 0.0

    def _close(self) -> list[bytes]:
        payloads = parity_payloads(self._group, second=self.grouping.second_parity)
        self._group, self._frames = [], 0
        size = sum(len(p) for p in payloads)
        self.parity_bytes += size
        self.second_parities += len(payloads) - 1
        d = self.RECENT_DECAY
        self._recent_media = d * self._recent_media + self._recent_group_media
        self._recent_parity = d * self._recent_parity + size
        self._recent_group_media = 0
        return payloads


@dataclass
class _Pending:
    """A group that still misses packets: its P and Q as they came."""

    p: ParityGroup | None = None
    q: ParityGroup | None = None
    since: float = 0.0

    @property
    def any(self) -> ParityGroup:
        group = self.p or self.q
        assert group is not None
        return group


class ParityDecoder:
    """Keeps the recent video packets and the parity groups not yet usable.

    A receiver takes parity packets out before aiortc sees them (``take_parity``: aiortc
    would count them into its NACK and jitter-buffer state) and adds the video packets where
    aiortc hands them to the jitter buffer (``add_media``). aiortc unwraps an RTX
    retransmission only after any RTP filter, so a parity decoder in front of it never saw
    a retransmitted packet as itself, and a group with two losses stayed locked after one
    of them was retransmitted."""

    KEEP_PACKETS = 1024
    KEEP_GROUP_S = 1.5  # a retransmission may still complete a group with too many losses
    KEEP_GROUPS = 256  # at most this many incomplete groups (oldest forgotten first)

    def __init__(self) -> None:
        self._packets: dict[tuple[int, int], RtpPacket] = {}
        self._order: deque[tuple[int, int]] = deque()
        self._pending: dict[tuple[int, int, int], _Pending] = {}
        self.parities = 0  # parity packets received (P and Q)
        self.second_parities = 0  # of which Q
        self.recovered = 0  # packets rebuilt
        self.recovered_with_q = 0  # of which Q was needed for (two losses, or P lost)
        self.two_rebuilt = 0  # groups whose two missing packets came back at once
        self._rebuilt: deque[tuple[int, int]] = deque(maxlen=64)

    def was_rebuilt(self, packet: RtpPacket) -> bool:
        """Whether ``packet`` is one this decoder rebuilt (recently)."""
        return (packet.ssrc, packet.sequence_number) in self._rebuilt

    def take_parity(self, packet: RtpPacket, now: float | None = None) -> list[RtpPacket] | None:
        """A parity packet is ours: keep its group, return the packets it rebuilds now (if
        any). ``None`` for any other packet (the codec's: hand it on unchanged)."""
        if not is_parity(packet.payload):
            return None
        now = time.monotonic() if now is None else now
        group = parse_parity(packet, now)
        if group is None:
            return []  # malformed parity: never the codec's
        self.parities += 1
        self.second_parities += group.second
        self._expire(now)
        entry = self._pending.get(group.key)
        fresh = entry is None
        if entry is None:
            entry = _Pending(since=now)
        if group.second:
            entry.q = group
        else:
            entry.p = group
        rebuilt = self._try(entry)
        if self._missing(entry.any):
            if fresh:
                self._pending[group.key] = entry
                while len(self._pending) > self.KEEP_GROUPS:
                    del self._pending[next(iter(self._pending))]
        elif not fresh:
            del self._pending[group.key]
        return rebuilt

    def add_media(self, packet: RtpPacket, now: float | None = None) -> list[RtpPacket]:
        """Keep a video packet (as the codec sees it: a retransmission already unwrapped from
        RTX); return the packets it let us rebuild."""
        now = time.monotonic() if now is None else now
        self._keep(packet)
        self._expire(now)
        out: list[RtpPacket] = []
        for key, entry in list(self._pending.items()):
            group = entry.any
            if group.ssrc != packet.ssrc:
                continue
            if (packet.sequence_number - group.first) & 0xFFFF >= group.count:
                continue  # not in this group: nothing changed for it
            out.extend(self._try(entry))
            if not self._missing(group):
                del self._pending[key]  # all there (arrived or rebuilt): forget it
        return out

    def feed(self, packet: RtpPacket, now: float | None = None) -> list[RtpPacket]:
        """Both in one (a packet stream without RTX): the packets to hand on."""
        taken = self.take_parity(packet, now)
        if taken is not None:
            return taken
        return [packet, *self.add_media(packet, now)]

    @property
    def pending_groups(self) -> int:
        """Incomplete groups kept (diagnostics, tests)."""
        return len(self._pending)

    def _expire(self, now: float) -> None:
        while self._pending:
            key = next(iter(self._pending))
            if now - self._pending[key].since <= self.KEEP_GROUP_S:
                break
            del self._pending[key]

    def _keep(self, packet: RtpPacket) -> None:
        key = (packet.ssrc, packet.sequence_number)
        if key not in self._packets:
            self._order.append(key)
        self._packets[key] = packet
        while len(self._order) > self.KEEP_PACKETS:
            self._packets.pop(self._order.popleft(), None)

    def _missing(self, group: ParityGroup) -> list[int]:
        """The positions in ``group`` of the packets not here."""
        return [
            i for i, s in enumerate(group.sequence_numbers) if (group.ssrc, s) not in self._packets
        ]

    def _try(self, entry: _Pending) -> list[RtpPacket]:
        """The missing packets of ``entry``'s group, rebuilt: none unless there are no more
        of them than parity packets, and none if the result is not a plausible packet."""
        group = entry.any
        missing = self._missing(group)
        if not missing or len(missing) > (entry.p is not None) + (entry.q is not None):
            return []
        width = max(len(g.coded) for g in (entry.p, entry.q) if g is not None)
        p_rest = _padded(entry.p.coded, width) if entry.p is not None else None
        q_rest = _padded(entry.q.coded, width) if entry.q is not None else None
        payload_type = group.payload_type
        for i, s in enumerate(group.sequence_numbers):
            p = self._packets.get((group.ssrc, s))
            if p is None:
                continue
            row = _coded(p, width)
            if row is None:
                return []  # a packet longer than the parity: not this group's parity
            payload_type = p.payload_type
            if p_rest is not None:
                p_rest ^= row
            if q_rest is not None:
                q_rest ^= _MUL[_g_pow(i)][row]
        if len(missing) == 1:
            x = missing[0]
            if p_rest is not None:
                rows = [p_rest]
            else:
                assert q_rest is not None
                rows = [_MUL[_gf_inv(_g_pow(x))][q_rest]]
        else:
            assert p_rest is not None and q_rest is not None
            rows = list(_solve_two(missing[0], missing[1], p_rest, q_rest))
        rebuilt = []
        for i, row in zip(missing, rows, strict=True):
            packet = _packet_of(row, group, group.sequence_numbers[i], payload_type)
            if packet is None:
                return []  # inconsistent parity: leave the losses to NACK
            rebuilt.append(packet)
        for packet in rebuilt:
            self._keep(packet)
            self._rebuilt.append((group.ssrc, packet.sequence_number))
        self.recovered += len(rebuilt)
        self.two_rebuilt += len(rebuilt) == 2
        if entry.p is None or len(rebuilt) == 2:
            self.recovered_with_q += len(rebuilt)
        return rebuilt


def _padded(coded: bytes, width: int) -> np.ndarray:
    """``coded`` as a row of ``width`` bytes, zero-padded."""
    row = np.zeros(width, dtype=np.uint8)
    row[: len(coded)] = np.frombuffer(coded, dtype=np.uint8)
    return row


def _solve_two(
    x: int, y: int, p_rest: np.ndarray, q_rest: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """D_x and D_y (x < y) from P' = D_x ⊕ D_y and Q' = g^x·D_x ⊕ g^y·D_y (RAID-6):
    D_x = (g^(y-x)·P' ⊕ g^-x·Q') / (g^(y-x) ⊕ 1), D_y = P' ⊕ D_x."""
    gyx = _g_pow(y - x)
    denominator = _gf_inv(gyx ^ 1)
    a = _gf_mul(gyx, denominator)
    b = _gf_mul(_gf_inv(_g_pow(x)), denominator)
    dx = _MUL[a][p_rest] ^ _MUL[b][q_rest]
    return dx, p_rest ^ dx


def _packet_of(
    row: np.ndarray, group: ParityGroup, sequence_number: int, payload_type: int
) -> RtpPacket | None:
    """The packet a rebuilt D_i describes, or None if it cannot be one (a garbled parity)."""
    marker, timestamp, length = _CODED_HEADER.unpack(row[: _CODED_HEADER.size].tobytes())
    end = _CODED_HEADER.size + length
    if marker > 1 or end > len(row) or row[end:].any():
        return None
    return RtpPacket(
        payload_type=payload_type,
        marker=marker,
        sequence_number=sequence_number,
        timestamp=timestamp,
        ssrc=group.ssrc,
        payload=row[_CODED_HEADER.size : end].tobytes(),
    )
