"""What the receiving end sees of the link: bytes per second and the queue on the path.

aiortc's only congestion feedback is REMB from its video receiver: it lags, dips at every
keyframe and never sees the queue that audio and video share (link c flooded, link b was
held a rung too low). The sender's RTT from RTCP receiver reports is a second or more
stale. So each receiver measures the one-way delay up to a constant (arrival time minus
send time: the abs-send-time extension aiortc stamps on video packets as they leave, taken
from the first packet of each frame so a frame's own burst does not count; the RTP
timestamp of audio when no video flows — it counts samples, so a capture glitch on the
sending PC would read as a queue, which is why video comes first) and reports, once a second over the data channel
(``media.feedback``), how far the recent delay sits above its floor — the queue — and the
rate it received. The sender's ladder (``app.media.ladder``) stops growing when a queue
forms and falls back to the received rate when it grows; clocks need not agree, only tick
at the same rate (a skew of 100 ppm is 3 ms in the 30 s floor window).

A packet read while the media loop was stalled, or in the backlog just after a stall
(``app.media.loop_lag``), waited for our CPU, not for the network: its bytes count, its
delay only when too few others were read on time, and then the smallest of the second's
(a starved clinic PC read its own lateness as a queue and went to audio only).
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the ladder imports LinkFeedback and stays free of aiortc
    from aiortc import RTCRtpReceiver
    from aiortc.rtp import RtpPacket

    from app.media.loop_lag import LoopLag

PACKET_OVERHEAD_BYTES = 60  # IP/UDP, RTP header and extensions, SRTP tag
FLOOR_WINDOW_S = 30.0
RECENT_S = 1.0
ABS_SEND_TIME_WRAP = 1 << 24  # 6.18 fixed point seconds: wraps every 64 s


@dataclass(frozen=True)
class LinkFeedback:
    """One second of the receiving end's view (also the ``media.feedback`` payload)."""

    recv_bps: int
    queue_ms: float | None  # None: not enough packets to tell
    # How long the reporting end's media loop stalled in the last second: its readings
    # leave those packets out, but what it sends was late too (``media.loop_stall``).
    stall_ms: float = 0.0


class _DelayTrack:
    """One-way delay samples (arrival − send, seconds, up to a constant) for one stream."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, float, bool]] = deque()  # (arrival, delay, late)
        self.floor: deque[tuple[float, float]] = deque()  # monotone minima over the window
        self._unwrap_last: int | None = None
        self._unwrap_base = 0

    def unwrap(self, value: int, modulus: int) -> int:
        """A wrapping counter made continuous (forwards and small steps back)."""
        if self._unwrap_last is not None:
            step = (value - self._unwrap_last) % modulus
            if step > modulus // 2:
                step -= modulus
            self._unwrap_base += step
        else:
            self._unwrap_base = value
        self._unwrap_last = value
        return self._unwrap_base

    def add(self, arrival: float, delay: float, late_read: bool = False) -> None:
        """One sample; ``late_read``: read after a loop stall, so its delay is an upper
        bound (the packet may have waited in the socket for us)."""
        self.samples.append((arrival, delay, late_read))
        while self.floor and self.floor[-1][1] >= delay:
            self.floor.pop()
        self.floor.append((arrival, delay))

    def queue_ms(self, now: float) -> float | None:
        while self.samples and now - self.samples[0][0] > RECENT_S:
            self.samples.popleft()
        while self.floor and now - self.floor[0][0] > FLOOR_WINDOW_S:
            self.floor.popleft()
        if len(self.samples) < 5 or not self.floor:
            return None
        clean = [d for _, d, late in self.samples if not late]
        if len(clean) >= 5:
            recent = statistics.median(clean)
        else:
            # A second mostly stalled: waiting for the loop only ever adds, so the smallest
            # delay read is the closest to the path's (a real queue still raises it).
            recent = min(d for _, d, _ in self.samples)
        return max(0.0, (recent - self.floor[0][1]) * 1000.0)


class ArrivalMeter:
    """Fed with every RTP packet a peer connection receives; read once a second."""

    def __init__(self, lag: LoopLag | None = None) -> None:
        self.lag = lag  # the loop that reads the packets: its stalls are not a queue
        self.suspect = 0  # delay samples left out because the loop was stalled
        self._bytes: deque[tuple[float, int]] = deque()
        self._audio = _DelayTrack()
        self._video = _DelayTrack()
        self._newest_seq: dict[int, int] = {}
        self._video_frame: dict[int, int] = {}  # ssrc -> RTP timestamp of the frame seen last

    def add(self, kind: str, packet: RtpPacket, arrival: float, clock_rate: int = 48000) -> None:
        """One packet as it arrived (``arrival``: monotonic seconds)."""
        self._bytes.append(
            (arrival, len(packet.payload) + packet.padding_size + PACKET_OVERHEAD_BYTES)
        )
        # Only first transmissions: a retransmitted packet carries its old send time.
        newest = self._newest_seq.get(packet.ssrc)
        if newest is not None and (packet.sequence_number - newest) % 65536 >= 32768:
            return
        self._newest_seq[packet.ssrc] = packet.sequence_number
        late_read = self.lag is not None and self.lag.suspect(arrival)
        if late_read:
            self.suspect += 1
        if kind == "audio":
            sent = self._audio.unwrap(packet.timestamp, 1 << 32) / clock_rate
            self._audio.add(arrival, arrival - sent, late_read)
        elif (
            packet.extensions.abs_send_time is not None
            and self._video_frame.get(packet.ssrc) != packet.timestamp
        ):
            self._video_frame[packet.ssrc] = packet.timestamp
            sent = self._video.unwrap(packet.extensions.abs_send_time, ABS_SEND_TIME_WRAP)
            self._video.add(arrival, arrival - sent / (1 << 18), late_read)

    def feedback(self, now: float | None = None) -> LinkFeedback:
        """Received rate over the last second and the queue above the delay floor."""
        now = time.monotonic() if now is None else now
        while self._bytes and now - self._bytes[0][0] > RECENT_S:
            self._bytes.popleft()
        recv_bps = int(sum(n for _, n in self._bytes) * 8 / RECENT_S)
        # Video's abs-send-time is the sender's clock; audio (sample counts) stands in on
        # the audio-only rung.
        queue = self._video.queue_ms(now)
        if queue is None:
            queue = self._audio.queue_ms(now)
        # The longest stall, not their sum: a packet waits for at most one.
        stall_ms = 1000.0 * self.lag.longest_s(now, RECENT_S) if self.lag is not None else 0.0
        return LinkFeedback(recv_bps=recv_bps, queue_ms=queue, stall_ms=round(stall_ms, 1))


def watch_arrivals(receiver: RTCRtpReceiver, kind: str, meter: ArrivalMeter) -> None:
    """Feed every RTP packet ``receiver`` gets to ``meter`` before aiortc handles it."""
    from app.media import aiortc_adapter as adapter  # here: the ladder imports this module

    adapter.tap_rtp(receiver, lambda packet: meter.add(kind, packet, time.monotonic()))
