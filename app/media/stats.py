"""One snapshot of a call's numbers, for the quality bars, the IT stats panel and benchmarks.

Built once a second from ``RTCPeerConnection.getStats()`` (RTCP-derived loss, RTT, jitter,
bytes sent) plus our own meters (decoded frames, sizes) and the ladder's decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallStats:
    """Everything the stats panel shows; rates in bit/s, times in seconds."""

    at: float = 0.0
    session: int = 0
    send_bps: float = 0.0
    recv_bps: float = 0.0
    send_video_bps: float = 0.0
    send_audio_bps: float = 0.0
    send_size: tuple[int, int] = (0, 0)
    send_fps: float = 0.0
    recv_size: tuple[int, int] = (0, 0)
    recv_fps: float = 0.0
    loss_out: float | None = None  # fraction of our packets the peer did not get
    loss_in: float | None = None  # fraction of the peer's packets we did not get
    rtt_s: float | None = None
    jitter_s: float | None = None
    rung: str = ""
    estimate_bps: float = 0.0
    remb_bps: float | None = None
    queue_out_ms: float | None = None  # queue the far end sees on our path to it
    queue_in_ms: float | None = None  # queue we see on the far end's path to us
    loop_stall_ms: float = 0.0  # our media loop's longest stall in the last second (CPU)
    cpu_busy: float = 0.0  # share of the last 5 s our media loop spent stalled
    av_skew_s: float | None = None  # video shown minus its audio (+: video late), lip sync
    audio_sync_delay_s: float = 0.0  # audio held back to match the video
    audio_packets_lost: int = 0
    audio_packets_received: int = 0
    bars: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class StatsReader:
    """Turns successive getStats() reports into rates and fractions."""

    AUDIO_CLOCK, VIDEO_CLOCK = 48_000, 90_000

    def __init__(self) -> None:
        self._prev: dict[str, float] = {}
        self._prev_at: float | None = None
        self._prev_in: dict[str, tuple[int, int]] = {}
        self._out_history: list[tuple[float, int, int]] = []  # (time, packets lost, sent)

    def read(self, report: Any, now: float, out: CallStats) -> None:
        """Fill ``out`` from one aiortc RTCStatsReport."""
        totals = {"bytes_sent": 0.0, "bytes_recv": 0.0, "audio_sent": 0.0, "video_sent": 0.0}
        rtts, losses_out = [], []
        lost_out = sent_out = 0
        lost_in = recv_in = 0
        d_lost = d_recv = 0
        jitters = []
        for stat in report.values():
            kind = getattr(stat, "kind", "")
            if stat.type == "transport":
                totals["bytes_sent"] += stat.bytesSent
                totals["bytes_recv"] += stat.bytesReceived
            elif stat.type == "outbound-rtp":
                totals[f"{kind}_sent"] += stat.bytesSent
                sent_out += stat.packetsSent
            elif stat.type == "remote-inbound-rtp":
                if stat.roundTripTime is not None:
                    rtts.append(stat.roundTripTime)
                losses_out.append(stat.fractionLost / 256.0)
                lost_out += max(0, stat.packetsLost)
            elif stat.type == "inbound-rtp":
                clock = self.AUDIO_CLOCK if kind == "audio" else self.VIDEO_CLOCK
                jitters.append(stat.jitter / clock)
                prev = self._prev_in.get(stat.id, (0, 0))
                d_lost += max(0, stat.packetsLost - prev[0])
                d_recv += max(0, stat.packetsReceived - prev[1])
                self._prev_in[stat.id] = (stat.packetsLost, stat.packetsReceived)
                if kind == "audio":
                    lost_in += stat.packetsLost
                    recv_in += stat.packetsReceived
        if self._prev_at is not None and now > self._prev_at:
            dt = now - self._prev_at
            out.send_bps = max(0.0, totals["bytes_sent"] - self._prev.get("bytes_sent", 0)) * 8 / dt
            out.recv_bps = max(0.0, totals["bytes_recv"] - self._prev.get("bytes_recv", 0)) * 8 / dt
            out.send_audio_bps = (
                max(0.0, totals["audio_sent"] - self._prev.get("audio_sent", 0)) * 8 / dt
            )
            out.send_video_bps = (
                max(0.0, totals["video_sent"] - self._prev.get("video_sent", 0)) * 8 / dt
            )
        self._prev, self._prev_at = totals, now
        out.rtt_s = max(rtts) if rtts else None
        out.loss_out = self._loss_out(now, lost_out, sent_out, losses_out)
        out.loss_in = d_lost / (d_lost + d_recv) if (d_lost + d_recv) else None
        out.jitter_s = max(jitters) if jitters else None
        out.audio_packets_lost, out.audio_packets_received = lost_in, recv_in

    def _loss_out(self, now: float, lost: int, sent: int, fractions: list[float]) -> float | None:
        """Our packets lost over the last ~3 s, all streams together.

        Each receiver report's ``fractionLost`` covers one stream over ~1 s, a few dozen
        packets: at 3 % random loss single reports read 0–15 %, and the worst of the audio
        and video reports was biased high. The cumulative counts over a few seconds are not."""
        if not fractions:
            return None
        self._out_history.append((now, lost, sent))
        while len(self._out_history) > 2 and now - self._out_history[0][0] > 3.0:
            self._out_history.pop(0)
        t0, lost0, sent0 = self._out_history[0]
        d_sent, d_lost = sent - sent0, max(0, lost - lost0)
        if d_sent < 20:
            return sum(fractions) / len(fractions)
        return min(1.0, d_lost / d_sent)
