"""Network-quality bars (0–4) for people, from loss, round-trip time and received bitrate.

Each input gives a score; the worst one wins. Loss thresholds follow Jitsi's quality bars
(≤2 % full, ≤4 %, ≤8 %, ≤12 %); RTT thresholds are what conversation tolerates. The received
bitrate is mostly what the far end *chooses* to send (a call starts at 160×120 and climbs, a
static scene needs little), so it only marks a link too thin for the lowest video rungs
(below ~100 kbit/s); it used to demand 280 kbit/s for full bars, and a perfect loopback call
read 3 of 4.
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
        scores.append(_score(recv_bps, (15_000, 35_000, 60_000, 90_000), higher_is_better=True))
    return min(scores)
