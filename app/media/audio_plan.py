"""How audio is sent at a link estimate: Opus bitrate, packet length, and the redundant copy.

On a thin link (link c: 96 kbit/s) audio with a full copy of the previous packet in 40 ms
packets took ~42 kbit/s on the wire — 16 kbit/s of voice, ~14 of copy and 12 of
IP/UDP/RTP/SRTP headers —, leaving too little for 160×120 at 8–10 fps. Below
``THIN_BELOW_BPS`` audio goes in 60 ms packets (a third fewer headers) and the copy is the
same audio encoded a second time at ``THIN_COPY_BPS`` (RFC 2198 allows a redundant block
in another encoding): a lost packet is still rebuilt whole from the next one, only at a
lower quality, for ~31 kbit/s in all (``bench/audio_loss.py --frame-ms 60 --copy-bps 8000``).
The receiver needs no change: a copy is decoded like any Opus packet.

Above it, audio is as before: 40 ms packets (20 ms more delay per packet matters on a link
where the voice is within the 400 ms budget) and the copy is the packet itself.
Pure logic, no aiortc.
"""

from __future__ import annotations

from dataclasses import dataclass

THIN_BELOW_BPS = 140_000  # go thin below this estimate…
THICK_ABOVE_BPS = 170_000  # …and back only above this (a re-open on each flip is audible)
THIN_FRAME_MS = 60
THIN_COPY_BPS = 8_000
HEADER_BYTES = 60  # IP/UDP/RTP/SRTP per packet
COPY_FRAMING_BYTES = 8  # code-3 re-framing, padding length, copy length and marker
FULL_COPY_SHARE = 0.9  # a full copy weighs ~0.9 of the packet (bench/audio_loss.py: 1.9×)


@dataclass(frozen=True)
class AudioPlan:
    """What the Opus sender does: voice bitrate, packet length, the copy's bitrate (None:
    the copy is the previous packet itself)."""

    bitrate: int
    frame_ms: int = 40
    copy_bps: int | None = None

    def wire_bps(self, redundancy: bool = True) -> float:
        """Bits per second on the wire: voice, copy (if on) and packet headers."""
        packets_per_s = 1000 / self.frame_ms
        total = self.bitrate + HEADER_BYTES * 8 * packets_per_s
        if redundancy:
            copy = self.copy_bps if self.copy_bps is not None else FULL_COPY_SHARE * self.bitrate
            total += copy + COPY_FRAMING_BYTES * 8 * packets_per_s
        return total


def voice_bitrate_for(estimate_bps: float) -> int:
    """Opus bitrate for a link estimate: 16 kbit/s up to 250 kbit/s links, 32 when roomy."""
    if estimate_bps < 250_000:
        return 16_000
    if estimate_bps < 500_000:
        return 24_000
    return 32_000


class AudioPlanner:
    """Chooses the ``AudioPlan`` for each estimate, with hysteresis between thin and not."""

    def __init__(self) -> None:
        self.thin = True  # a call starts at a thin link's estimate (the ladder's 90 kbit/s)

    def plan(self, estimate_bps: float) -> AudioPlan:
        """The plan for this estimate (updates the thin/thick state)."""
        if self.thin and estimate_bps > THICK_ABOVE_BPS:
            self.thin = False
        elif not self.thin and estimate_bps < THIN_BELOW_BPS:
            self.thin = True
        return self.peek(estimate_bps)

    def peek(self, estimate_bps: float) -> AudioPlan:
        """The plan for this estimate without changing state (budget arithmetic)."""
        bitrate = voice_bitrate_for(estimate_bps)
        if self.thin:
            return AudioPlan(bitrate, THIN_FRAME_MS, THIN_COPY_BPS)
        return AudioPlan(bitrate)
