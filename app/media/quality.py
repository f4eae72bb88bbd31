"""Network-quality bars (0–4) for people, from loss, round-trip time and received bitrate.

Each input gives a score; the worst one wins. Loss thresholds follow Jitsi's quality bars
(≤2 % full, ≤4 %, ≤8 %, ≤12 %); RTT and bitrate thresholds match what a call on our ladder
needs (audio alone fits in ~30 kbit/s, 320×240 video in ~150 kbit/s).
"""

from __future__ import annotations


def _score(value: float, limits: tuple[float, float, float, float], higher_is_better: bool) -> int:
    if higher_is_better:
        return sum(1 for limit in limits if value >= limit)
    return sum(1 for limit in limits if value <= limit)


def quality_bars(
    loss: float | None, rtt_s: float | None, recv_bps: float | None, media_flowing: bool = True
) -> int:
    """0 (no usable link) … 4 (good). ``None`` inputs are ignored."""
    if not media_flowing:
        return 0
    scores = [4]
    if loss is not None:
        scores.append(_score(loss, (0.12, 0.08, 0.04, 0.02), higher_is_better=False))
    if rtt_s is not None:
        scores.append(_score(rtt_s, (2.0, 1.0, 0.6, 0.3), higher_is_better=False))
    if recv_bps is not None:
        scores.append(_score(recv_bps, (20_000, 60_000, 140_000, 280_000), higher_is_better=True))
    return min(scores)
