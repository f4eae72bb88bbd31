"""aiortc's encoders and receive buffers re-tuned for 100–500 kbit/s links.

Why here and like this: aiortc 1.16 hard-codes Opus at 96 kbit/s stereo without FEC
(``codecs/opus.py``) and clamps VP8 to 250–1500 kbit/s (``codecs/vpx.py`` MIN_BITRATE),
re-creating the VP8 encoder (a keyframe) on every >10 % bitrate change. Together that needs
~350 kbit/s, more than a township link has. aiortc offers no encoder hook, but each
``RTCRtpSender`` creates its encoder lazily only when its private ``__encoder`` slot is
empty (``rtcrtpsender.py`` ``_next_encoded_frame``). ``install_encoders`` fills that slot
with our encoders right after the transceivers are added, per peer connection, so stock
and low-band calls can run side by side in one process (the benchmark compares them) and no
global monkeypatching is needed. Every private slot is reached through
``app.media.aiortc_adapter``, which refuses to load on another aiortc than the pinned one.

- ``LowbandOpusEncoder``: mono, 16–32 kbit/s, in-band FEC with the expected loss, 40 ms
  frames (halves the per-packet overhead that dominates at these rates), and each packet
  carrying the previous one in its padding (``app.media.audio_redundancy``).
- ``RecoveringAudioBuffer`` (receiving side, ``app.media.audio_receive``): aiortc's audio
  jitter buffer (16 slots, prefetch 4) stalls at every lost packet until 16 more arrive,
  then drops the good packets in front of the hole as well (3× the audio lost and ~0.6 s of
  delay on a 3 % loss link, bench/call_links.py), and FFmpeg's decoder can neither use FEC
  nor conceal. Ours decodes with libopus itself as packets arrive, rebuilds a lost packet
  from the next one's copy or FEC and conceals the rest (PLC). ``ArrivalOrderAudioBuffer``
  is the fallback when no libopus library can be loaded.
- ``DeadlineVideoBuffer`` (receiving side): aiortc's video jitter buffer waits for a
  missing packet until 512 later packets have arrived: when a NACKed packet is lost again
  (likely at 3 % loss) video froze for ~30 s and then played 26 s late (bench, link b).
  Ours gives a hole ``max_wait_s`` (enough for one NACK round trip), then skips to the
  next whole frame and asks for a keyframe (PLI): a freeze of about a second instead.
- ``LowbandVp8Encoder``: bitrate set by the ladder (down to ~20 kbit/s), REMB only recorded
  (the ladder combines it with loss and RTT). libvpx through ``app.media.vpx_native``
  changes rate in place (keyframes only on request or a new size); PyAV's encoder, the
  fallback, is re-created only for a new resolution or a large, settled bitrate change.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import multiprocessing
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TypeVar

import av
from aiortc.codecs.base import Encoder
from aiortc.codecs.opus import SAMPLE_RATE
from aiortc.codecs.vpx import Vp8Encoder, number_of_threads
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import VIDEO_TIME_BASE, convert_timebase
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket
from aiortc.utils import uint16_add, uint16_gt
from av import AudioFrame, AudioResampler, VideoFrame
from av.audio.codeccontext import AudioCodecContext
from av.frame import Frame

from app.media import aiortc_adapter as adapter
from app.media import vpx_native
from app.media.audio_receive import RecoveringAudioBuffer
from app.media.audio_redundancy import attach_previous
from app.media.opus_native import load_libopus
from app.media.sample_clock import SampleClock
from app.media.temporal_layers import (
    FrameLayer,
    TemporalLayers,
    decodable_after_loss,
    frame_layer,
    packetize,
    upper_layer,
)
from app.media.video_parity import (
    BASE_GROUPS,
    WIDE_GROUPS,
    WIDE_GROUPS_FOR_Q_PEERS,
    Grouping,
    ParityDecoder,
    ParityEncoder,
    is_parity,
    without_second_parity,
)

log = logging.getLogger(__name__)
_V = TypeVar("_V")


@dataclass
class SendControl:
    """Shared between the ladder (asyncio thread) and the encoders (aiortc's executor)."""

    video_bps: int = 30_000  # the starting rung's; the ladder sets it from the first second
    audio_bps: int = 24_000
    expected_loss_pct: int = 5
    audio_frame_ms: int = 40
    audio_redundancy: bool = True  # each audio packet also carries the previous one
    audio_copy_bps: int | None = None  # the copy re-encoded at this rate (None: the packet)
    remb_bps: int | None = None
    remb_at: float = 0.0
    video_parity: bool = False  # the far end repairs from our parity packets
    parity_grouping: Grouping = WIDE_GROUPS  # by the rung's frame rate (app.media.adaptation)
    video_parity_q: bool = False  # ... and also from Q (its ``media.repair`` parity_version ≥ 2)
    q_peer_wide_groups: Grouping = WIDE_GROUPS_FOR_Q_PEERS  # WIDE_GROUPS' stand-in for such a peer
    temporal_layers: bool = False  # two layers (app.media.temporal_layers), below 12 fps
    parity_overhead: float = 0.0  # parity bytes per video byte (taken off the encoder's rate)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sends_parity(self) -> bool:
        """Whether video parity goes out now."""
        # audio_redundancy is on while the link lost packets in the last 20 s; on a clean
        # link parity, like the audio copy, only costs bits.
        return self.video_parity and self.audio_redundancy

    def sending_grouping(self) -> Grouping:
        """The grouping parity goes out with now: the rung's, with the Q grouping in place
        of WIDE_GROUPS for a far end that decodes Q, and never Q to one that does not (a
        version-1 decoder drops Q packets, but they would only cost bits)."""
        grouping = self.parity_grouping
        if not self.video_parity_q:
            return without_second_parity(grouping)
        return self.q_peer_wide_groups if grouping == WIDE_GROUPS else grouping

    def on_remb(self, bps: int) -> None:
        """Called (via the encoder) whenever the receiver's REMB arrives."""
        with self._lock:
            self.remb_bps, self.remb_at = int(bps), time.monotonic()

    def fresh_remb(self, max_age_s: float = 5.0) -> int | None:
        """The last REMB if it is recent."""
        with self._lock:
            if self.remb_bps is None or time.monotonic() - self.remb_at > max_age_s:
                return None
            return self.remb_bps


class LowbandOpusEncoder(Encoder):
    """Opus mono with FEC; bitrate, packet length, loss hint and the redundant copy follow
    ``SendControl`` (``app.media.audio_plan`` says why)."""

    def __init__(self, control: SendControl) -> None:
        self.control = control
        self.codec: AudioCodecContext | None = None
        self._settings: tuple[int, int, int] | None = None
        self.copy_codec: AudioCodecContext | None = None
        self._copy_settings: tuple[int, int] | None = None
        # Packets are cut from a FIFO so their length can change between two packets.
        self.resampler = AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self._fifo = av.AudioFifo()
        self.first_packet_pts: int | None = None
        self._next_pts = 0
        # Samples handed to the resampler so far: the next frame's first sample's index on
        # the RTP clock (the packets' pts count the same samples).
        self._input_samples = 0
        self.sample_clock = SampleClock(SAMPLE_RATE)
        self._previous: bytes | None = None

    @staticmethod
    def _new_codec(bitrate: int, frame_ms: int, loss_pct: int | None) -> AudioCodecContext:
        codec = av.CodecContext.create("libopus", "w")
        codec.bit_rate = bitrate
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = SAMPLE_RATE
        codec.time_base = fractions.Fraction(1, SAMPLE_RATE)
        options = {
            "application": "voip",
            "frame_duration": str(frame_ms),
            "vbr": "constrained",
        }
        if loss_pct is not None:
            # in-band FEC (LBRR): the next packet carries a coarse copy
            options |= {"fec": "1", "packet_loss": str(max(1, min(30, loss_pct)))}
        codec.options = options
        return codec

    def _prepare(self) -> None:
        """(Re-)open the encoders whose settings changed; cheap and inaudible, and only on
        ladder changes."""
        c = self.control
        wanted = (c.audio_bps, c.expected_loss_pct, c.audio_frame_ms)
        if self.codec is None or wanted != self._settings:
            self.codec = self._new_codec(c.audio_bps, c.audio_frame_ms, c.expected_loss_pct)
            self._settings = wanted
        copy = (c.audio_copy_bps, c.audio_frame_ms) if c.audio_copy_bps else None
        if copy != self._copy_settings:
            self.copy_codec = self._new_codec(copy[0], copy[1], None) if copy else None
            self._copy_settings = copy

    def encode(self, frame: Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        assert isinstance(frame, AudioFrame)
        self.sample_clock.frame_arrived(self._input_samples)
        self._input_samples += frame.samples * SAMPLE_RATE // (frame.sample_rate or SAMPLE_RATE)
        for resampled in self.resampler.resample(frame):
            resampled.pts = None
            self._fifo.write(resampled)
        payloads: list[bytes] = []
        timestamp: int | None = None
        while True:
            self._prepare()
            assert self.codec is not None
            chunk = self._fifo.read(SAMPLE_RATE * self.control.audio_frame_ms // 1000)
            if chunk is None:
                break
            # Our own running pts: it stays continuous across encoder re-opens.
            chunk.pts = self._next_pts
            self._next_pts += chunk.samples
            copy = self._encode_copy(chunk)
            for packet in self.codec.encode(chunk):
                if timestamp is None:
                    timestamp = chunk.pts
                plain = bytes(packet)
                redundant = self.control.audio_redundancy
                payloads.append(attach_previous(plain, self._previous) if redundant else plain)
                self._previous = copy if copy is not None else plain
        if not payloads:
            return [], None  # type: ignore[return-value]  # aiortc's own contract
        return payloads, int(timestamp or 0)

    def _encode_copy(self, chunk: AudioFrame) -> bytes | None:
        """The same audio at the copy's bitrate (None: the copy is the packet itself)."""
        if self.copy_codec is None:
            return None
        packets = self.copy_codec.encode(chunk)
        return bytes(packets[0]) if packets else None

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:  # pragma: no cover
        raise NotImplementedError("pre-encoded audio is not used")


class LowbandVp8Encoder(Vp8Encoder):
    """VP8 at the ladder's bitrate (no 250 kbit/s floor); keyframes only when needed.

    libvpx is driven directly (``app.media.vpx_native``) when PyAV's wheel carries the
    libvpx whose layout we coded: the rate then follows the ladder in place, without a
    keyframe, and keyframes are capped at libwebrtc's share. Otherwise (or after a libvpx
    error, logged) PyAV's encoder, which must be re-created, with a keyframe, to change rate.
    """

    MIN_BPS = 20_000
    MAX_BPS = 1_500_000
    MIN_KEYFRAME_GAP_S = 1.5
    RATE_STEP = 0.03  # smaller changes are left to the encoder's own rate control
    PACKET_OVERHEAD_BYTES = 62

    def __init__(self, control: SendControl, native: bool = True) -> None:
        super().__init__()
        self.control = control
        self._opened_at = 0.0
        self._keyframe_at = 0.0
        self.keyframes = 0  # sent, asked for or with a new encoder (stats, benchmark)
        self.keyframe_log: deque[tuple[str, float]] = deque(maxlen=64)  # (why, when): latest
        self._libvpx = vpx_native.load_libvpx() if native else None
        self.native: vpx_native.NativeVp8Encoder | None = None
        self.layers = TemporalLayers()  # used while control.temporal_layers (libvpx only)
        self.rate_changes_in_place = 0
        self.encoded_bytes = 0  # VP8 bytes made (the benchmark's trace compares the target)
        self._packets_sent: deque[tuple[float, int]] = deque(maxlen=40)  # (media s, packets)

    def packet_rate(self) -> float:
        """Video packets a second of media over the last ~2 s (no parity or retransmissions)."""
        sent = self._packets_sent
        if len(sent) < 2 or sent[-1][0] - sent[0][0] < 0.5:
            return 0.0
        return sum(n for _, n in list(sent)[1:]) / (sent[-1][0] - sent[0][0])

    # aiortc assigns REMB here (rtcrtpsender ``_handle_rtcp_packet``): record it only.
    @property
    def target_bitrate(self) -> int:
        video = self.control.video_bps
        packets = self.packet_rate()
        if self.control.sends_parity:
            video = int(video / (1.0 + self.control.parity_overhead))
            packets *= 1.0 + self.control.parity_overhead
        # The ladder's budget is what goes on the wire; the encoder's target is VP8 bytes.
        # Each packet adds ~62 bytes (IP/UDP 28, RTP with extensions ~24, SRTP tag 10): at
        # b's ~40 packets a second ~20 kbit/s, which the PyAV encoder's undershoot used to
        # hide and libvpx, filling its target, turned into a standing queue.
        video -= int(packets * self.PACKET_OVERHEAD_BYTES * 8)
        return max(self.MIN_BPS, min(video, self.MAX_BPS))

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        self.control.on_remb(bitrate)

    def _needs_new_codec(self, frame: VideoFrame, want: int) -> bool:
        codec = self.codec
        if codec is None or frame.width != codec.width or frame.height != codec.height:
            return True
        if not codec.bit_rate:
            return True  # never the case for a codec _open made
        change = (want - codec.bit_rate) / codec.bit_rate
        settled = time.monotonic() - self._opened_at > 3.0
        # Down by a third at once (the link is full); smaller settled changes both ways.
        return change < -0.35 or (abs(change) > 0.2 and settled)

    def encode(
        self, frame: Frame, force_keyframe: bool = False, flags: int = 0
    ) -> tuple[list[bytes], int]:
        """aiortc's encoder call; ``flags``: ``vpx_native`` reference flags (libvpx only)."""
        assert isinstance(frame, VideoFrame)
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        # Frames from capture tracks are stamped (aiortc's own VP8 encoder relies on it too).
        assert frame.pts is not None and frame.time_base is not None
        timestamp = convert_timebase(frame.pts, frame.time_base, VIDEO_TIME_BASE)
        want = self.target_bitrate
        now = time.monotonic()
        keyframe = False
        if force_keyframe and now - self._keyframe_at >= self.MIN_KEYFRAME_GAP_S:
            # Every lost frame makes the receiver ask again (PLI), and at these bitrates a
            # keyframe fills the link for a while: the requests that arrive while the last
            # keyframe is still on its way are answered by that one.
            keyframe = True
            self._keyframe_at = now
            self.keyframes += 1
            self.keyframe_log.append(("pli", now))
        layer = None
        if self._libvpx is not None and self.control.temporal_layers and not flags:
            native = self.native
            fresh = native is None or (native.width, native.height) != (frame.width, frame.height)
            flags, layer = self.layers.next_frame(keyframe or fresh)
        data = None
        if self._libvpx is not None:
            try:
                data = self._encode_native(frame, want, timestamp, keyframe, flags)
            except vpx_native.VpxError as exc:
                log.warning("native VP8 encoder failed (%s): PyAV's encoder from now on", exc)
                self._close_native()
                self._libvpx = None
        if data is None:
            data = self._encode_pyav(frame, want, keyframe)
        self.encoded_bytes += len(data)
        if layer is not None and self._libvpx is None:
            layer = None  # libvpx failed just now: PyAV's encoder knows no layers
        if layer is not None and data and layer.tid and not data[0] & 0x01:
            layer = self.layers.keyframe_sent()  # a keyframe refers to nothing: a base frame
        if not data:
            payloads = []
        elif layer is not None:
            payloads = packetize(data, self.picture_id, layer)
        else:
            payloads = self._packetize(data, self.picture_id)
        # Counted on the frames' own clock, not the wall's: the same in a live call, and a
        # burst of frames encoded late (a starved CPU, a test) is not read as a packet rate.
        media_s = float(frame.pts * frame.time_base)
        sent = self._packets_sent
        if sent and media_s < sent[-1][0]:
            sent.clear()  # the source restarted its clock
        sent.append((media_s, len(payloads)))
        while sent and media_s - sent[0][0] > 2.0:
            sent.popleft()
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return payloads, timestamp

    def _encode_native(
        self, frame: VideoFrame, want: int, timestamp: int, keyframe: bool, flags: int
    ) -> bytes:
        encoder = self.native
        if encoder is None or (encoder.width, encoder.height) != (frame.width, frame.height):
            self._close_native()
            threads = number_of_threads(frame.width * frame.height, multiprocessing.cpu_count())
            encoder = vpx_native.NativeVp8Encoder(
                frame.width, frame.height, want, threads=threads, lib=self._libvpx
            )
            self.native = encoder
            self._note_new_encoder(frame, want)
            keyframe = False  # a new encoder's first frame is one
        elif abs(want - encoder.bitrate_bps) > self.RATE_STEP * encoder.bitrate_bps:
            encoder.set_bitrate(want)
            self.rate_changes_in_place += 1
        out = encoder.encode(frame.to_ndarray(), timestamp, keyframe=keyframe, flags=flags)
        if out is None:
            return b""  # dropped by libvpx's rate control: nothing to send
        if out.keyframe and not keyframe and encoder.keyframes > 1:
            # Never expected (keyframes are disabled but on request): counted, to be seen.
            self.keyframes += 1
            self.keyframe_log.append(("libvpx", time.monotonic()))
        return out.data

    def _close_native(self) -> None:
        if self.native is not None:
            self.native.close()
            self.native = None

    def _encode_pyav(self, frame: VideoFrame, want: int, keyframe: bool) -> bytes:
        if self._needs_new_codec(frame, want):
            self._open(frame, want)
        elif keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        assert self.codec is not None
        return b"".join(bytes(p) for p in self.codec.encode(frame))

    def _note_new_encoder(self, frame: VideoFrame, bitrate: int) -> None:
        self._opened_at = self._keyframe_at = time.monotonic()  # a new encoder starts with one
        self.keyframes += 1
        self.keyframe_log.append(
            (f"{frame.width}x{frame.height}@{bitrate // 1000}k", self._opened_at)
        )

    def _open(self, frame: VideoFrame, bitrate: int) -> None:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height = frame.width, frame.height
        codec.bit_rate = bitrate
        codec.pix_fmt = "yuv420p"
        codec.gop_size = 3000  # keyframes on request (PLI/FIR) only
        codec.qmin = 4
        codec.qmax = 63  # let quality drop before frames are dropped at tiny bitrates
        codec.options = {
            "bufsize": str(bitrate),  # 1 s buffer, as aiortc
            "cpu-used": "-8",  # fastest: clinic PCs are modest
            "deadline": "realtime",
            "lag-in-frames": "0",
            "minrate": str(bitrate),
            "maxrate": str(bitrate),
            "noise-sensitivity": "4",
            "overshoot-pct": "15",
            "partitions": "0",
            "static-thresh": "1",
            "undershoot-pct": "100",
            "error-resilient": "1",  # decodable after a lost packet until the next keyframe
        }
        codec.thread_count = number_of_threads(
            frame.width * frame.height, multiprocessing.cpu_count()
        )
        self.codec = codec
        self._note_new_encoder(frame, bitrate)


class RetransmitLimiter:
    """Bounds NACK retransmissions: each packet at most ``max_tries`` times, not twice within
    ``min_gap_s``, and all of them within ``share`` of the video bitrate.

    aiortc's receiver repeats its whole list of missing packets in every NACK, and aiortc's
    sender resends everything asked for: on the 96 kbit/s link, once the queue overflowed,
    retransmissions tripled the traffic (316 kbit/s sent, bench trace) and kept the link
    flooded for seconds."""

    def __init__(
        self, control: SendControl, share: float = 0.3, max_tries: int = 2, min_gap_s: float = 0.25
    ) -> None:
        self.control, self.share = control, share
        self.max_tries, self.min_gap_s = max_tries, min_gap_s
        self._tries: dict[int, tuple[int, float]] = {}
        self._budget = 0.0
        self._budget_at = time.monotonic()
        self.refused = 0
        self.sent = 0

    def allow(self, seq: int, size: int = 1200) -> bool:
        """Whether to resend packet ``seq`` now (counts it if so)."""
        now = time.monotonic()
        rate = self.share * self.control.video_bps / 8  # bytes per second
        # At least two packets' worth can be saved up: at 30 kbit/s a second of 30 % is
        # 1125 bytes, less than one full packet, and every retransmission was refused (c).
        self._budget = min(max(rate, 2 * size), self._budget + (now - self._budget_at) * rate)
        self._budget_at = now
        tries, last = self._tries.get(seq, (0, 0.0))
        if tries >= self.max_tries or now - last < self.min_gap_s or self._budget < size:
            self.refused += 1
            return False
        self._budget -= size
        self._tries[seq] = (tries + 1, now)
        if len(self._tries) > 2048:
            for old in list(self._tries)[:1024]:
                del self._tries[old]
        return True

    def wrap(
        self, retransmit: adapter.RetransmitFn, history: dict[int, RtpPacket]
    ) -> adapter.RetransmitFn:
        """``RTCRtpSender._retransmit`` with the limits applied."""
        return LimitedRetransmit(self, retransmit, history)


class LimitedRetransmit:
    """A sender's ``_retransmit`` behind a RetransmitLimiter; ``limiter`` is read by
    bench/call_links.py for its counts."""

    def __init__(
        self,
        limiter: RetransmitLimiter,
        retransmit: adapter.RetransmitFn,
        history: dict[int, RtpPacket],
    ) -> None:
        self.limiter, self._resend, self._history = limiter, retransmit, history

    async def __call__(self, sequence_number: int) -> None:
        packet = self._history.get(sequence_number % RTP_HISTORY_SIZE)
        if packet is None or packet.sequence_number != sequence_number:
            return  # no longer kept: nothing to resend
        if upper_layer(packet.payload):
            return  # the receiver passes a lost upper-layer frame without waiting for it
        if self.limiter.allow(sequence_number, len(packet.payload) + 60):
            self.limiter.sent += 1
            await self._resend(sequence_number)


class ParitySender:
    """Sends the XOR parity of the video sender's packets (``app.media.video_parity``)
    while ``control.sends_parity``, on an SSRC of its own."""

    def __init__(self, sender: RTCRtpSender, control: SendControl) -> None:
        self.sender, self.control = sender, control
        self.encoder = ParityEncoder()
        self.ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)

    async def __call__(self, packets: list[RtpPacket]) -> None:
        if not self.control.sends_parity:
            return
        layer = frame_layer(packets[0].payload)
        # At 12 fps and more (link b) the wide groups run over base and upper frames alike:
        # a parity per base frame alone is a copy at b's ~1 packet a frame (53 % of the
        # video bitrate in the one run that had it). Below, each base frame is a group and
        # upper frames get none (link c).
        grouping = self.control.sending_grouping()
        wide = grouping.upper_layers
        if layer is not None and layer.tid > 0 and not wide:
            self.encoder.pass_frame(packets)  # nothing waits for an upper-layer frame
            return
        self.encoder.grouping = BASE_GROUPS if layer is not None and not wide else grouping
        for payload in self.encoder.add_frame(packets):
            parity = RtpPacket(
                payload_type=packets[0].payload_type,
                sequence_number=self._seq,
                timestamp=packets[-1].timestamp,
                ssrc=self.ssrc,
                payload=payload,
            )
            self._seq = (self._seq + 1) & 0xFFFF
            try:
                await adapter.send_rtp(self.sender, parity)
            except ConnectionError:
                return  # the transport closed: the call is ending or reconnecting
        self.control.parity_overhead = self.encoder.overhead()


def install_encoders(
    audio_sender: RTCRtpSender | None,
    video_sender: RTCRtpSender | None,
    control: SendControl,
    align_reports: bool = True,
) -> None:
    """Put the low-band encoders into fresh senders (before negotiation starts them), bound
    the video sender's retransmissions (``RetransmitLimiter``) and pair the audio sender's
    reports with capture time (``SampleClock``)."""
    if video_sender is not None:
        adapter.wrap_retransmit(video_sender, RetransmitLimiter(control).wrap)
        adapter.watch_sent_frames(video_sender, ParitySender(video_sender, control))
    for sender, encoder in (
        (audio_sender, LowbandOpusEncoder(control) if audio_sender else None),
        (video_sender, LowbandVp8Encoder(control) if video_sender else None),
    ):
        if sender is not None:
            adapter.set_encoder(sender, encoder)
    if audio_sender is not None and align_reports:
        opus = adapter.encoder(audio_sender)
        assert isinstance(opus, LowbandOpusEncoder)
        adapter.align_sender_reports(audio_sender, opus.sample_clock.sample_at)


class ArrivalOrderAudioBuffer:
    """Audio "jitter buffer" that never waits for a lost packet (one packet = one frame)."""

    capacity = 16

    def __init__(self) -> None:
        self._last: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        seq = packet.sequence_number
        if self._last is not None:
            ahead = uint16_add(seq, -self._last)
            if ahead == 0 or ahead > 0x8000:
                return False, None  # duplicate, or older than what was played: too late
        self._last = seq
        return False, JitterFrame(data=adapter.packet_bytes(packet), timestamp=packet.timestamp)


def install_receive_buffers(receiver: RTCRtpReceiver, kind: str) -> None:
    """Replace aiortc's jitter buffer in a fresh receiver (audio or video)."""
    if kind == "audio":
        if load_libopus() is None:  # FFmpeg decodes then: no recovery, no concealment
            adapter.set_jitter_buffer(receiver, ArrivalOrderAudioBuffer())
            return
        audio = RecoveringAudioBuffer()
        audio.attach(receiver)
        adapter.set_jitter_buffer(receiver, audio)
        return
    adapter.check_decoder_input(receiver)
    buffer = DeadlineVideoBuffer()
    buffer.attach(receiver)
    adapter.set_jitter_buffer(receiver, buffer)
    # Parity packets are taken out in front of aiortc; a lost packet one of them rebuilds
    # goes into aiortc's path as if it had arrived. Video packets reach the parity decoder
    # in the buffer (``DeadlineVideoBuffer.add``), after aiortc unwrapped any RTX.
    adapter.filter_rtp(receiver, buffer.take_parity)


def hole_timing_for(rtt_s: float | None) -> tuple[float, float]:
    """(ask again after, give up after) for a video hole, in seconds.

    A lost packet is noticed one frame later (up to 200 ms at 5 fps) and its copy takes a
    round trip; if it has not come a round trip and a bit after the hole was seen, the NACK
    or the copy was lost: ask once more, and wait for that answer before giving up."""
    rtt = rtt_s or 0.0
    return max(0.3, 1.2 * rtt + 0.1), max(1.0, 2.2 * rtt + 0.3)


def set_hole_timing(receiver: RTCRtpReceiver, rtt_s: float | None) -> None:
    """Apply ``hole_timing_for(rtt_s)`` to ``receiver``'s video buffer, if it is ours."""
    buffer = adapter.jitter_buffer(receiver)
    if isinstance(buffer, DeadlineVideoBuffer):
        buffer.ask_again_after_s, buffer.max_wait_s = hole_timing_for(rtt_s)


def parity_received(receiver: RTCRtpReceiver) -> int:
    """How many parity packets ``receiver``'s video buffer got so far (0 if not ours)."""
    buffer = adapter.jitter_buffer(receiver)
    return buffer.parity.parities if isinstance(buffer, DeadlineVideoBuffer) else 0


def late_repairs(receiver: RTCRtpReceiver) -> dict[int, str] | None:
    """How ``receiver``'s video buffer made late frames whole, by decoder timestamp
    (``DeadlineVideoBuffer.repaired``); None if the buffer is not ours."""
    buffer = adapter.jitter_buffer(receiver)
    return buffer.repaired if isinstance(buffer, DeadlineVideoBuffer) else None


def _frame_of(packets: list[RtpPacket]) -> JitterFrame:
    """One frame from its packets, in order (as aiortc's buffer joins them)."""
    return JitterFrame(
        data=b"".join(adapter.packet_bytes(x) for x in packets), timestamp=packets[0].timestamp
    )


def _put_bounded(mapping: dict[int, _V], key: int, value: _V, limit: int) -> None:
    """``mapping[key] = value``, forgetting the oldest entries beyond ``limit``."""
    mapping[key] = value
    while len(mapping) > limit:
        del mapping[next(iter(mapping))]


class DeadlineVideoBuffer(JitterBuffer):
    """aiortc's video jitter buffer with a deadline on holes (see the module docstring)."""

    def __init__(self, capacity: int = 512, max_wait_s: float = 1.0) -> None:
        super().__init__(capacity=capacity, is_video=True)
        self.max_wait_s = max_wait_s
        self.ask_again_after_s = 0.5
        self._receiver: RTCRtpReceiver | None = None
        self._hole_since: float | None = None
        self._asked_again = False
        self.holes_skipped = 0
        self.asked_again = 0
        self.upper_skipped = 0  # holes passed at once: only upper-layer frames were lost
        self._last_base: int | None = None  # TL0PICIDX of the last base frame handed on
        # Layers of the frames in the buffer by RTP timestamp: aiortc depayloads a packet
        # (the VP8 descriptor is gone from what the frames are made of).
        self._layers: dict[int, FrameLayer | None] = {}
        self.parity = ParityDecoder()
        self._newest: int | None = None
        # How the frames that had a hole (or waited behind one) were made whole — "parity"
        # or "resent" — by RTP timestamp, then by the decoder's (mapped) timestamp once
        # handed on: the playout clock (app.media.receive) and the benchmark's freeze causes
        # read it.
        self._filled: dict[int, str] = {}
        self.repaired: dict[int, str] = {}

    def take_parity(self, packet: RtpPacket) -> list[RtpPacket]:
        """In front of aiortc: a parity packet out (with what it rebuilds), others on."""
        try:
            taken = self.parity.take_parity(packet)
        except Exception:  # a decoder bug must not reach aiortc's receive loop
            log.exception("parity packet %d dropped", packet.sequence_number)
            return [] if is_parity(packet.payload) else [packet]
        return [packet] if taken is None else taken

    def attach(self, receiver: RTCRtpReceiver) -> None:
        """Let the buffer hand every ready frame to ``receiver``'s decoder itself and use
        its NACK list."""
        self._receiver = receiver

    def _deliver_all(
        self, first: JitterFrame, packet: RtpPacket, more: list[JitterFrame] | None = None
    ) -> bool:
        """aiortc takes one frame per packet, so after a stall the backlog would drain at
        ~0.2 frames per packet and the delay would stay; hand all ready frames over now."""
        decoder = adapter.decoder_input(self._receiver) if self._receiver else None
        codec = decoder.codecs.get(packet.payload_type) if decoder else None
        if decoder is None or codec is None:
            return False
        # Frames released behind a repaired one waited for the same repair: they count as
        # made whole the same way (the playout clock must not take a NACK's wait, passed
        # on to the frames behind it, for a late path).
        behind: str | None = None
        for frame in [first, *(more or [])]:
            behind = self._hand_on(frame, decoder, codec, behind)
        while (ready := self._remove_frame(packet.sequence_number)) is not None:
            behind = self._hand_on(ready, decoder, codec, behind)
        return True

    def _hand_on(
        self, frame: JitterFrame, decoder: adapter.DecoderInput, codec: object, behind: str | None
    ) -> str | None:
        """Queue ``frame`` for the decoder; returns how it was made whole (or ``behind``)."""
        self._note_layer(frame)
        own = self._filled.pop(frame.timestamp, None)
        # Behind a resent frame, a frame rebuilt from parity still waited for the NACK.
        how = behind if behind == "resent" else own or behind
        frame.timestamp = decoder.timestamp_mapper.map(frame.timestamp)
        if how is not None:
            _put_bounded(self.repaired, frame.timestamp, how, 512)
        decoder.queue.put((codec, frame))
        return how

    def _note_fill(self, packet: RtpPacket) -> None:
        """Remember a packet that came after a newer one (a repair: parity or a resend)."""
        seq = packet.sequence_number
        if self._newest is None or uint16_gt(seq, self._newest):
            self._newest = seq
            return
        if seq != self._newest:
            how = "parity" if self.parity.was_rebuilt(packet) else "resent"
            _put_bounded(self._filled, packet.timestamp, how, 256)

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        """The frame at the origin once it is whole, removed from the buffer.

        aiortc calls a frame whole only when the next frame's first packet is behind it, so
        every frame waited one frame interval (67 ms at 15 fps, 110 ms at 9) for its
        successor, and a whole frame whose successor's first packet was lost waited for that
        packet's repair (a freeze on link b). The RTP marker ends a VP8 frame (RFC 7741,
        Chrome and aiortc set it): a run from the origin to a marker is a frame now."""
        origin = self._origin
        if origin is None:
            return None
        cap = self._capacity
        packets: list[RtpPacket] = []
        for count in range(cap):
            packet = self._packets[(origin + count) % cap]
            if packet is None:
                return None
            if packets and packet.timestamp != packets[0].timestamp:
                break  # the next frame began: this one ended (its marker lost or unset)
            packets.append(packet)
            if packet.marker:
                break
        else:
            return None
        self.remove(len(packets))
        return _frame_of(packets)

    def _layer_of(self, packet: RtpPacket) -> FrameLayer | None:
        """The layer of ``packet``'s frame if it is the frame's first packet (else None)."""
        layer = frame_layer(packet.payload)
        if layer is not None or packet.timestamp not in self._layers:
            _put_bounded(self._layers, packet.timestamp, layer, 256)
        return layer

    def _note_layer(self, frame: JitterFrame) -> None:
        """Remember the base frame the decoder has now (``app.media.temporal_layers``);
        before ``frame``'s timestamp is mapped."""
        layer = self._layers.get(frame.timestamp)
        if layer is None:
            self._last_base = None  # no layer fields: every frame may be a reference
        elif layer.tid == 0:
            self._last_base = layer.tl0picidx

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        try:
            # Here, not in front of aiortc: a retransmission arrives unwrapped from RTX.
            self._layer_of(packet)
            self._note_fill(packet)
            try:
                rebuilt = self.parity.add_media(packet)
            except Exception:  # a decoder bug must not reach aiortc's receive loop
                log.exception("parity decoder failed on packet %d", packet.sequence_number)
                rebuilt = []
            pli, frame = self._add(packet)
            if frame is not None:  # not attached: aiortc takes it
                self._note_layer(frame)
            for more in rebuilt:
                if adapter.prepare_rebuilt(self._receiver, more):
                    more_pli, more_frame = self.add(more)
                    pli, frame = pli or more_pli, frame or more_frame
            return pli, frame
        finally:
            self._forget_unwanted_packets()

    def _ask_again(self, ssrc: int) -> None:
        """NACK the packets still missing once more.

        aiortc sends a NACK only when it notices a new loss, so a lost NACK or a lost
        retransmission was never asked for again: the hole waited out its deadline (about
        one freeze of a second per minute on link b, several on c)."""
        missing = self._nack_missing()
        if not missing:
            return
        self.asked_again += 1
        assert self._receiver is not None
        asyncio.get_running_loop().create_task(
            adapter.send_nack(self._receiver, ssrc, sorted(missing))
        )

    def _forget_unwanted_packets(self) -> None:
        """Stop asking for packets behind the origin (played, or skipped after the deadline).

        aiortc's NACK generator keeps every missing packet of the last 128 and repeats the
        whole list in each NACK; after a burst of loss the sender spent its retransmission
        budget on packets this buffer had given up on, so fresh losses went unrepaired,
        each became a skipped hole, and video froze for a second every second (bench b)."""
        missing = self._nack_missing()
        if not missing or self._origin is None:
            return
        origin = self._origin
        missing.difference_update([s for s in missing if uint16_gt(origin, s)])

    def _nack_missing(self) -> set[int] | None:
        """The packets aiortc's NACKs ask for (None before ``attach`` or without NACKs)."""
        return adapter.nack_missing(self._receiver)

    def _add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli, frame = super().add(packet)
        if frame is not None or self._origin is None:
            self._hole_since = None
            if frame is not None and self._deliver_all(frame, packet):
                return pli, None
            return pli, frame
        hole = self._first_hole(packet.sequence_number)
        if hole is None:
            self._hole_since = None  # the newest frame is just not complete yet
            return pli, frame
        resume_at = self._decodable_after(hole, packet.sequence_number)
        if resume_at is not None:
            # Only upper-layer frames are missing: nothing that follows needs them, so
            # waiting for a repair would only freeze the picture (a round trip on link c).
            self._hole_since = None
            self.upper_skipped += 1
            ready = self._frames_before(hole)
            assert self._origin is not None
            self.remove(uint16_add(resume_at, -self._origin))  # the frames with the hole
            return self._resume(ready, packet, pli)
        now = time.monotonic()
        if self._hole_since is None:
            self._hole_since, self._asked_again = now, False
        elif not self._asked_again and now - self._hole_since > self.ask_again_after_s:
            self._asked_again = True
            self._ask_again(packet.ssrc)
        if self._hole_since is not None and now - self._hole_since > self.max_wait_s:
            # Give up on the lost packet: pass on the whole frames in front of it, skip to
            # the next whole frame behind it, ask for a keyframe.
            self._hole_since = None
            self.holes_skipped += 1
            ready = self._frames_before(hole)
            self._skip_to_next_frame()
            return self._resume(ready, packet, True)
        return pli, frame

    def _resume(
        self, ready: list[JitterFrame], packet: RtpPacket, pli: bool
    ) -> tuple[bool, JitterFrame | None]:
        """After a hole was passed: hand on ``ready`` and the whole frame now at the origin."""
        following = self._remove_frame(packet.sequence_number)
        if following is not None:
            ready.append(following)
        if ready and self._deliver_all(ready[0], packet, ready[1:]):
            return pli, None
        return pli, ready[0] if ready else None

    def _decodable_after(self, hole: int, newest: int) -> int | None:
        """The first sequence number of a whole frame behind the hole that decodes without
        what is missing (``temporal_layers.decodable_after_loss``), if there is one."""
        assert self._origin is not None
        cap = self._capacity
        base = self._last_base
        for i in range(hole):  # whole frames in front of the hole go to the decoder first
            p = self._packets[(self._origin + i) % cap]
            layer = frame_layer(p.payload) if p is not None else None
            if layer is not None and layer.tid == 0:
                base = layer.tl0picidx
        span = min(uint16_add(newest, -self._origin) + 1, cap)
        for i in range(hole + 1, span):
            p = self._packets[(self._origin + i) % cap]
            if p is None or (layer := frame_layer(p.payload)) is None:
                continue
            if not decodable_after_loss(layer, base):
                return None  # the first frame behind the hole needs what was lost
            for j in range(i, span):  # whole? (every packet up to its marker is here)
                q = self._packets[(self._origin + j) % cap]
                if q is None or q.timestamp != p.timestamp:
                    return None
                if q.marker:
                    return p.sequence_number
            return None
        return None

    def _first_hole(self, newest: int) -> int | None:
        """Offset from the origin of the first missing packet before ``newest``, if any."""
        assert self._origin is not None
        span = min(uint16_add(newest, -self._origin), self._capacity)
        for i in range(span):
            if self._packets[(self._origin + i) % self._capacity] is None:
                return i
        return None

    def _frames_before(self, hole: int) -> list[JitterFrame]:
        """The frames wholly in front of the hole (the last one only if its marker says it
        ended), removed from the buffer."""
        assert self._origin is not None
        groups: list[list[RtpPacket]] = []
        for i in range(hole):
            p = self._packets[(self._origin + i) % self._capacity]
            assert p is not None
            if not groups or groups[-1][-1].timestamp != p.timestamp:
                groups.append([])
            groups[-1].append(p)
        if groups and not groups[-1][-1].marker:
            groups.pop()  # its end may be in the hole
        used = sum(len(g) for g in groups)
        frames = [_frame_of(g) for g in groups]
        self.remove(used)
        return frames

    def _skip_to_next_frame(self) -> None:
        """Drop the frame with the hole, keep the complete frames behind it.

        Flushing everything instead (as this buffer first did) also threw away good frames,
        and left no origin, so the lost packet's late retransmission became the new origin
        with a hole behind it: another full deadline, another flush, seconds of freeze.
        With the origin moved forward, late packets are rejected as too old."""
        assert self._origin is not None
        cap = self._capacity
        prev: RtpPacket | None = None
        last_present = 0
        for i in range(1, cap):
            p = self._packets[(self._origin + i) % cap]
            if p is None:
                prev = None
                continue
            if prev is not None and (prev.marker or prev.timestamp != p.timestamp):
                self.remove(i)  # a frame starts here
                return
            prev, last_present = p, i
        self.remove(last_present + 1)  # nothing whole yet: wait for the next frame to start
