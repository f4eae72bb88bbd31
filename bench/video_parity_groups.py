#!/usr/bin/env python3
"""Video parity offline: what the second parity Q costs and buys (app.media.video_parity).

1. The codec's time: P, and P+Q, of a group of 8 packets of 1200 bytes; rebuilding one
   loss from P, one from Q (P lost) and two from P and Q.
2. Link b by simulation: frames at 15 fps of a 100 kbit/s video (two temporal layers, as on
   b while it loses packets; ~1 packet a frame, a keyframe every 10 s), random loss on media
   and parity alike, each grouping run over the same frames and losses. Per minute: base
   frames left to a NACK round trip (a freeze on b's 300 ms round trip), upper frames
   passed over (a frame of motion), and how late a rebuilt frame is (its group's parity
   arrives after the group's last frame). Overhead as ``parity_overhead`` counts it.

    .venv/bin/python bench/video_parity_groups.py [--loss 0.03] [--minutes 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc.rtp import RtpPacket  # noqa: E402

from app.media.video_parity import (  # noqa: E402
    PAIR_GROUPS,
    WIDE_GROUPS,
    WIDE_PQ_GROUPS,
    Grouping,
    ParityDecoder,
    ParityEncoder,
    is_parity,
    parity_payloads,
)


def _packets(n: int, size: int, seed: int = 1) -> list[RtpPacket]:
    rnd = random.Random(seed)
    return [
        RtpPacket(
            payload_type=97,
            marker=int(i == n - 1),
            sequence_number=1000 + i,
            timestamp=90_000,
            ssrc=5,
            payload=rnd.randbytes(size),
        )
        for i in range(n)
    ]


def _best_us(fn, repeat: int = 300) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best * 1e6


def codec_timing() -> None:
    group = _packets(8, 1200)
    p, q = parity_payloads(group, second=True)
    wire_p = RtpPacket(payload_type=97, sequence_number=1, ssrc=9, payload=p)
    wire_q = RtpPacket(payload_type=97, sequence_number=2, ssrc=9, payload=q)

    def rebuild(lost: set[int], parity: list[RtpPacket]) -> None:
        decoder = ParityDecoder()
        for i, packet in enumerate(group):
            if i not in lost:
                decoder.add_media(packet, now=0.0)
        out = []
        for packet in parity:
            out += decoder.take_parity(packet, now=0.0) or []
        assert len(out) == len(lost), (lost, len(out))

    def keep_only() -> None:  # the part of ``rebuild`` that is not decoding
        decoder = ParityDecoder()
        for packet in group[1:]:
            decoder.add_media(packet, now=0.0)

    base = _best_us(keep_only)
    print("codec, group of 8 × 1200 bytes (best of 5 × 300; µs per group):")
    print(f"  encode P            {_best_us(lambda: parity_payloads(group)):8.1f}")
    print(f"  encode P+Q          {_best_us(lambda: parity_payloads(group, second=True)):8.1f}")
    print(f"  keep 7 packets      {base:8.1f}  (a decoder's bookkeeping, in the lines below)")
    print(f"  rebuild 1 from P    {_best_us(lambda: rebuild({3}, [wire_p])):8.1f}")
    print(f"  rebuild 1 from Q    {_best_us(lambda: rebuild({3}, [wire_q])):8.1f}")
    print(f"  rebuild 2 from P+Q  {_best_us(lambda: rebuild({2, 6}, [wire_p, wire_q])):8.1f}")


def _frames(minutes: float, kbps: float, fps: int, seed: int) -> list[tuple[int, list[int]]]:
    """(temporal layer, packet sizes) per frame: base and upper frames alternate, a base
    frame ~1.5× an upper one, a keyframe (~8×) every 10 s, packets of at most 1100 bytes."""
    rnd = random.Random(seed)
    mean = kbps * 1000 / 8 / fps
    frames = []
    for n in range(int(minutes * 60 * fps)):
        tid = n % 2
        size = mean * (1.2 if tid == 0 else 0.8) * rnd.uniform(0.7, 1.3)
        if n % (10 * fps) == 0:
            tid, size = 0, mean * 8
        count = max(1, -(-int(size) // 1100))
        frames.append((tid, [int(size) // count] * count))
    return frames


def simulate(grouping: Grouping, frames, loss: float, fps: int, seed: int) -> dict:
    rnd = random.Random(seed)
    encoder = ParityEncoder(grouping)
    decoder = ParityDecoder()
    seq, pseq = 0, 0
    frame_of: dict[int, int] = {}
    back_at: dict[int, float] = {}  # seq -> time it was there (arrived or rebuilt)
    sent = []
    for n, (_tid, sizes) in enumerate(frames):
        now = n / fps
        packets = []
        for i, size in enumerate(sizes):
            packets.append(
                RtpPacket(
                    payload_type=97,
                    marker=int(i == len(sizes) - 1),
                    sequence_number=seq & 0xFFFF,
                    timestamp=n * 6000,
                    ssrc=5,
                    payload=bytes(size),
                )
            )
            frame_of[seq & 0xFFFF] = n
            seq += 1
        wire = list(packets)
        for payload in encoder.add_frame(packets):
            wire.append(RtpPacket(payload_type=97, sequence_number=pseq, ssrc=9, payload=payload))
            pseq += 1
        sent.extend(packets)
        for packet in wire:
            if rnd.random() < loss:
                continue
            for out in decoder.feed(packet, now=now):
                if not is_parity(out.payload):
                    back_at.setdefault(out.sequence_number, now)
    nack_base = nack_upper = 0
    late = []
    per_frame: dict[int, list[int]] = {}
    for p in sent:
        per_frame.setdefault(frame_of[p.sequence_number], []).append(p.sequence_number)
    for n, seqs in per_frame.items():
        if any(s not in back_at for s in seqs):
            if frames[n][0] == 0:
                nack_base += 1
            else:
                nack_upper += 1
        else:
            wait = max(back_at[s] for s in seqs) - n / fps
            if wait > 0:
                late.append(wait * 1000)
    minutes = len(frames) / fps / 60
    late.sort()
    return {
        "overhead": encoder.parity_bytes / encoder.media_bytes,
        "base_nack_per_min": nack_base / minutes,
        "upper_lost_per_min": nack_upper / minutes,
        "rebuilt_per_min": len(late) / minutes,
        "rebuilt_late_ms_median": statistics.median(late) if late else 0.0,
        "rebuilt_late_ms_p95": late[int(0.95 * (len(late) - 1))] if late else 0.0,
        # A frame shown more than ~150 ms after its turn is a freeze by libwebrtc's rule
        # (the playout delay is at its 30 ms floor while parity arrives).
        "rebuilt_over_150_per_min": sum(x > 150 for x in late) / minutes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", type=float, default=0.03)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--kbps", type=float, default=100)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    codec_timing()
    frames = _frames(args.minutes, args.kbps, args.fps, args.seed)
    print(
        f"\nlink b by simulation: {args.minutes:g} min of {args.kbps:g} kbit/s at {args.fps} fps,"
        f" {100 * args.loss:g} % random loss, same frames and losses for each grouping"
    )
    candidates = {
        "WIDE_GROUPS (P)": WIDE_GROUPS,
        "WIDE_PQ_GROUPS (P+Q)": WIDE_PQ_GROUPS,
        "P+Q, 5 pkts/3 frames": Grouping(5, 3, 8, second_parity=True, upper_layers=True),
        "P+Q, 5 pkts/4 frames": Grouping(5, 4, 8, second_parity=True, upper_layers=True),
        "P, 4 pkts/3 frames": Grouping(4, 3, 8, upper_layers=True),
        "PAIR_GROUPS (P)": PAIR_GROUPS,
    }
    print(
        f"  {'grouping':24} {'overhead':>8} {'base→NACK/min':>13} {'upper lost/min':>14} "
        f"{'rebuilt/min':>11} {'late med/p95 ms':>16} {'>150 ms/min':>11}"
    )
    for name, grouping in candidates.items():
        r = simulate(grouping, frames, args.loss, args.fps, args.seed + 1)
        print(
            f"  {name:24} {100 * r['overhead']:7.1f}% {r['base_nack_per_min']:13.2f} "
            f"{r['upper_lost_per_min']:14.2f} {r['rebuilt_per_min']:11.1f} "
            f"{r['rebuilt_late_ms_median']:7.0f}/{r['rebuilt_late_ms_p95']:<8.0f} "
            f"{r['rebuilt_over_150_per_min']:11.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
