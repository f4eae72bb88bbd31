"""Receiving audio: decode with libopus, recover lost packets, conceal what cannot be.

Replaces aiortc's audio jitter buffer *and* its FFmpeg decoding for an audio receiver
(``install_receive_buffers``): aiortc's buffer stalls at every hole and its decoder cannot
use FEC or conceal (see ``app.media.opus_native``). Packets are decoded as they arrive, in
arrival order, on the media loop (a 40 ms Opus packet decodes in ~0.1 ms). When packet *n*
arrives after a hole:

1. the last missing packet is rebuilt from the copy in *n*'s padding
   (``app.media.audio_redundancy``) or, failing that, from *n*'s in-band FEC;
2. the rest of the hole, up to ``max_conceal_ms``, is filled by Opus PLC (a continuation
   that fades out), so a single loss is never silence; longer holes (an outage) leave a
   gap in the timeline after the fade;
3. *n* itself is decoded.

Each frame's ``opaque`` says how it was made (``None`` received, ``"copy"``, ``"fec"``,
``"plc"``), so meters and the benchmark can count concealed audio. Packets older than the
last one played are dropped (they would be late anyway): the link emulator and real paths
rarely reorder, and waiting for reordering would add delay to every packet.
"""

from __future__ import annotations

import fractions
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add
from av import AudioFrame

from app.media import aiortc_adapter as adapter
from app.media.audio_redundancy import previous_copy
from app.media.opus_native import NativeOpusDecoder, OpusError, has_fec, packet_samples

log = logging.getLogger(__name__)

RATE = 48_000
TIME_BASE = fractions.Fraction(1, RATE)
PLC_STEP = 960  # conceal in 20 ms pieces (PLC sizes must be multiples of 2.5 ms)


@dataclass
class AudioReceiveCounters:
    """What happened to the received audio so far (packets, or ms for concealment)."""

    packets: int = 0
    recovered_copy: int = 0
    recovered_fec: int = 0
    concealed_ms: float = 0.0
    dropped_late: int = 0
    undecodable: int = 0


class RecoveringAudioBuffer:
    """Drop-in for aiortc's audio ``JitterBuffer``: decodes itself and delivers frames."""

    capacity = 16  # read by aiortc

    def __init__(
        self,
        deliver: Callable[[AudioFrame], None] | None = None,
        *,
        use_copy: bool = True,
        use_fec: bool = True,
        conceal: bool = True,
        max_conceal_ms: float = 200.0,
    ) -> None:
        self.decoder = NativeOpusDecoder(channels=1)
        self._deliver = deliver
        self._receiver: RTCRtpReceiver | None = None
        self.use_copy, self.use_fec, self.conceal = use_copy, use_fec, conceal
        self.max_conceal = int(max_conceal_ms * RATE / 1000)
        self.counters = AudioReceiveCounters()
        self._last_seq: int | None = None
        self._next_ts: int | None = None  # RTP timestamp right after the last decoded audio
        self._origin_ts: int | None = None

    @property
    def rtp_origin(self) -> int | None:
        """The RTP timestamp of pts 0 (None before the first packet)."""
        return self._origin_ts

    def attach(self, receiver: RTCRtpReceiver) -> None:
        """Deliver decoded frames straight into ``receiver``'s remote track."""
        self._receiver = receiver

    def _emit(self, pcm, rtp_ts: int, how: str | None) -> None:  # noqa: ANN001 - ndarray
        frame = AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = RATE
        assert self._origin_ts is not None
        frame.pts = (rtp_ts - self._origin_ts) & 0xFFFFFFFF
        frame.time_base = TIME_BASE
        frame.opaque = how
        if how == "plc":
            self.counters.concealed_ms += pcm.shape[1] * 1000 / RATE
        if self._deliver is not None:
            self._deliver(frame)
            return
        adapter.deliver_to_track(self._receiver, frame)

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        """aiortc's hook, once per received packet; nothing is left for aiortc to decode."""
        data = adapter.packet_bytes(packet)
        seq, ts = packet.sequence_number, packet.timestamp
        if self._last_seq is not None:
            ahead = uint16_add(seq, -self._last_seq)
            if ahead == 0 or ahead > 0x8000:
                self.counters.dropped_late += 1
                return False, None
        self._last_seq = seq
        if self._origin_ts is None:
            self._origin_ts = self._next_ts = ts
        try:
            self._fill_hole(data, ts)
            pcm = self.decoder.decode(data)
        except OpusError as exc:
            self.counters.undecodable += 1
            log.debug("undecodable audio packet %d: %s", seq, exc)
            return False, None
        self.counters.packets += 1
        self._emit(pcm, ts, None)
        self._next_ts = (ts + pcm.shape[1]) & 0xFFFFFFFF
        return False, None

    def _fill_hole(self, data: bytes, ts: int) -> None:
        assert self._next_ts is not None
        hole = (ts - self._next_ts) & 0xFFFFFFFF
        if hole == 0 or hole > 0x80000000:
            return  # contiguous (or the sender's clock stepped back: nothing to fill)
        start = self._next_ts
        copy = previous_copy(data) if self.use_copy else None
        rebuilt_n, how = 0, None
        if copy is not None:
            rebuilt_n, how = packet_samples(copy), "copy"
        elif self.use_fec and has_fec(data):
            rebuilt_n, how = min(packet_samples(data), hole), "fec"
        rebuilt_n = min(rebuilt_n, hole)
        to_conceal = hole - rebuilt_n if self.conceal else 0
        to_conceal = min(to_conceal, self.max_conceal)
        done = 0
        while done < to_conceal:
            step = min(PLC_STEP, to_conceal - done)
            step -= step % 120
            if step <= 0:
                break
            pcm = self.decoder.conceal(step)
            self._emit(pcm, start + done, "plc")
            done += pcm.shape[1]
        if how is not None and rebuilt_n:
            at = (ts - rebuilt_n) & 0xFFFFFFFF
            if how == "copy":
                assert copy is not None
                pcm = self.decoder.decode(copy)
                self.counters.recovered_copy += 1
            else:
                pcm = self.decoder.recover(data, rebuilt_n)
                self.counters.recovered_fec += 1
            self._emit(pcm, at, how)
