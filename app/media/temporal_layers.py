"""Two temporal layers for VP8 at low frame rates, and which frames a receiver may skip.

Why: on link c (600 ms round trip) a frame that waits for a retransmission is a freeze at
8 fps, whatever the playout does. With two layers every other frame (layer 1) predicts only
from the last layer-0 frame and is never referenced itself, so losing it costs one frame
interval of motion (a 250 ms gap at 8 fps, below the 375 ms freeze rule), not a wait.
Layer 0 is what must arrive, and what the parity protects (``app.media.video_parity``:
each base frame's packets form a group of their own).

Signalled as RFC 7741 says — the VP8 payload descriptor's TID, Y (layer sync) and
TL0PICIDX fields — so any receiver can tell which frames depend on which: a frame of layer
0 whose TL0PICIDX is one past the last base frame we decoded, or a frame of layer 1 on the
last base frame, or a keyframe, decodes without whatever was lost in between.

The sender's reference pattern uses libvpx's per-frame flags (``app.media.vpx_native``):
layer 0 predicts from and replaces the last frame; layer 1 predicts from it and replaces
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc.codecs.vpx import PACKET_MAX, VpxPayloadDescriptor

from app.media.vpx_native import (
    NO_REF_ARF,
    NO_REF_GF,
    NO_UPD_ARF,
    NO_UPD_ENTROPY,
    NO_UPD_GF,
    NO_UPD_LAST,
)

BASE_FLAGS = NO_REF_GF | NO_REF_ARF | NO_UPD_GF | NO_UPD_ARF
UPPER_FLAGS = BASE_FLAGS | NO_UPD_LAST | NO_UPD_ENTROPY


@dataclass(frozen=True)
class FrameLayer:
    """One frame's place in the layers, as its payload descriptor says."""

    tid: int
    tl0picidx: int
    keyframe: bool = False


class TemporalLayers:
    """The sender's pattern: base, upper, base, upper…; a keyframe restarts it."""

    def __init__(self) -> None:
        self._index = 0
        self._tl0picidx = 0

    def next_frame(self, keyframe: bool) -> tuple[int, FrameLayer]:
        """(libvpx encode flags, the frame's layer) for the next frame."""
        if keyframe:
            self._index = 0
        tid = self._index % 2
        self._index += 1
        if tid == 0:
            self._tl0picidx = (self._tl0picidx + 1) & 0xFF
        flags = 0 if keyframe else (BASE_FLAGS if tid == 0 else UPPER_FLAGS)
        return flags, FrameLayer(tid, self._tl0picidx, keyframe)

    def keyframe_sent(self) -> FrameLayer:
        """The encoder made a keyframe where the pattern had an upper frame: it becomes a
        base frame, and the pattern goes on from it."""
        self._index = 1
        self._tl0picidx = (self._tl0picidx + 1) & 0xFF
        return FrameLayer(0, self._tl0picidx, True)


def packetize(data: bytes, picture_id: int, layer: FrameLayer) -> list[bytes]:
    """VP8 RTP payloads of one frame with TID/Y/TL0PICIDX in the descriptor (aiortc's own
    packetizer writes the picture id only)."""
    descr = VpxPayloadDescriptor(
        partition_start=1,
        partition_id=0,
        picture_id=picture_id,
        tl0picidx=layer.tl0picidx,
        tid=(layer.tid, int(layer.tid > 0)),  # an upper frame refers to base frames only
    )
    payloads, pos = [], 0
    while pos < len(data):
        head = bytes(descr)
        size = min(len(data) - pos, PACKET_MAX - len(head))
        payloads.append(head + data[pos : pos + size])
        descr.partition_start = 0
        pos += size
    return payloads


def frame_layer(payload: bytes) -> FrameLayer | None:
    """The layer of the frame whose first packet's payload this is (None: no layer fields,
    or not a frame's first packet)."""
    try:
        descr, rest = VpxPayloadDescriptor.parse(payload)
    except ValueError:
        return None
    if not descr.partition_start or descr.tid is None or descr.tl0picidx is None:
        return None
    keyframe = bool(rest) and not rest[0] & 0x01  # VP8 frame tag: P bit 0 = keyframe
    return FrameLayer(descr.tid[0], descr.tl0picidx, keyframe)


def upper_layer(payload: bytes) -> bool:
    """Whether a VP8 packet belongs to an upper-layer frame (every packet says so)."""
    try:
        descr, _ = VpxPayloadDescriptor.parse(payload)
    except ValueError:
        return False
    return descr.tid is not None and descr.tid[0] > 0


def decodable_after_loss(frame: FrameLayer, last_base: int | None) -> bool:
    """Whether ``frame`` decodes although frames between it and the last base frame shown
    (TL0PICIDX ``last_base``) were lost: the lost ones were then all of the upper layer."""
    if frame.keyframe:
        return True
    if last_base is None:
        return False
    if frame.tid == 0:
        return frame.tl0picidx == (last_base + 1) & 0xFF
    return frame.tl0picidx == last_base
