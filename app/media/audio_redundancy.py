"""Audio redundancy: each Opus packet also carries the previous one, inside Opus padding.

Why: Opus in-band FEC (LBRR) is only produced for frames SILK's voice detector calls
speech, and only from ~20 kbit/s up (measured in ``bench/audio_loss.py``: none at
16 kbit/s, ~80 % of speech packets at 24 kbit/s, ~10 % for a steady tone), so a lost
packet is often not recoverable from FEC alone. Sending the previous packet again (RFC 2198's
idea, at ~1.9× the audio payload but no extra packet headers) recovers every single loss
whatever the signal.

Where: not in a separate RED payload type, which every receiver would have to negotiate and
understand, but in the packet's padding. An Opus packet can be re-framed (code 3) with
padding bytes that every decoder must skip (RFC 6716 §3.2.5), so a stock receiver (aiortc,
a browser) still decodes the packet normally and ignores the copy. The padding starts with
``0x01``, which libopus ≥ 1.5 reads as "the rest is padding" (Opus extension ID 0, L=1), and
ends with the copy's length and a marker, so our receiver finds it without negotiation.

    padding = 0x01 | previous packet | len(previous) (2 bytes, big endian) | b"YQ"
"""

from __future__ import annotations

import ctypes

from app.media.opus_native import load_libopus

MARKER = b"YQ"
MAX_COPY = 1275  # the largest Opus frame; a copy bigger than that is not ours


def _padding_bounds(packet: bytes) -> tuple[int, int] | None:
    """(start, length) of the padding of a code-3 packet, or None if it has none."""
    if len(packet) < 2 or packet[0] & 0x3 != 3 or not packet[1] & 0x40:
        return None
    pad, i = 0, 2
    while True:
        if i >= len(packet):
            return None
        byte = packet[i]
        i += 1
        pad += 254 if byte == 255 else byte
        if byte != 255:
            break
    if pad <= 0 or pad > len(packet) - i:
        return None
    return len(packet) - pad, pad


def attach_previous(packet: bytes, previous: bytes | None) -> bytes:
    """``packet`` re-framed with ``previous`` in its padding (unchanged if impossible)."""
    lib = load_libopus()
    if lib is None or not previous or len(previous) > MAX_COPY:
        return packet
    extra = 1 + len(previous) + 2 + len(MARKER)
    # opus_packet_pad needs room for the code-3 header (≤ 2 bytes plus the length bytes).
    size = len(packet) + extra + 2 + extra // 254 + 1
    buf = ctypes.create_string_buffer(packet, size)
    lib.opus_packet_pad.restype = ctypes.c_int
    lib.opus_packet_pad.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]
    if lib.opus_packet_pad(buf, len(packet), size) != 0:
        return packet
    padded = bytearray(buf.raw[:size])
    bounds = _padding_bounds(bytes(padded))
    if bounds is None or bounds[1] < extra:
        return packet
    start, length = bounds
    tail = b"\x01" + previous + len(previous).to_bytes(2, "big") + MARKER
    padded[start : start + length] = b"\x00" * (length - len(tail)) + tail
    # Leading zero bytes (if any) are Opus extension padding too; 0x01 ends the parse.
    if length > len(tail):
        padded[start] = 0x01
    return bytes(padded)


def previous_copy(packet: bytes) -> bytes | None:
    """The previous packet carried in ``packet``'s padding, if any."""
    if len(packet) < 4 or packet[-2:] != MARKER:
        return None
    bounds = _padding_bounds(packet)
    if bounds is None:
        return None
    start, length = bounds
    size = int.from_bytes(packet[-4:-2], "big")
    if size <= 0 or size > MAX_COPY or size + 4 > length:
        return None
    end = len(packet) - 4
    return packet[end - size : end]
