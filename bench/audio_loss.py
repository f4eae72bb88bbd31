"""What each audio loss-recovery scheme buys at random packet loss (offline, real codecs).

Encodes 60 s of a tone (the benchmark's) and of a synthetic voice (harmonics with a moving
pitch and syllable envelope) with ``LowbandOpusEncoder``, drops packets at random, and feeds
the rest to ``RecoveringAudioBuffer`` with its recovery steps switched on one by one:

- none: what FFmpeg's decoder gave (a lost packet is missing audio)
- plc: Opus packet-loss concealment only
- fec+plc: in-band FEC (LBRR) of the next packet, then PLC
- copy+plc: the previous packet carried in the padding (``audio_redundancy``), then PLC
- copy+fec+plc: both

Reported: audio bitrate on the wire (payload + 60 bytes per packet), ms missing or concealed,
and gaps (a run of missing or concealed audio ≥ 60 ms, the call benchmark's definition).

    .venv/bin/python bench/audio_loss.py [--seconds 60] [--bitrates 16000,24000]
    .venv/bin/python bench/audio_loss.py --frame-ms 60 --copy-bps 8000   # link c's audio
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.media.lowband import SendControl  # noqa: E402
from tests.media.opus_packets import RATE, encode_packets, receive_packets  # noqa: E402

GAP_MS = 60.0
SCHEMES = {
    "none": dict(use_copy=False, use_fec=False, conceal=False),
    "plc": dict(use_copy=False, use_fec=False, conceal=True),
    "fec+plc": dict(use_copy=False, use_fec=True, conceal=True),
    "copy+plc": dict(use_copy=True, use_fec=False, conceal=True),
    "copy+fec+plc": dict(use_copy=True, use_fec=True, conceal=True),
}


def signals(seconds: float) -> dict[str, np.ndarray]:
    """The call benchmark's tone and a voice-like signal, s16 mono."""
    t = np.arange(int(RATE * seconds)) / RATE
    envelope = np.where(t.astype(int) % 2 == 0, 1.0, 0.3)
    tone = 0.2 * envelope * np.sin(2 * np.pi * 440 * t)
    phase = np.cumsum(2 * np.pi * (140 + 30 * np.sin(2 * np.pi * 0.7 * t)) / RATE)
    voice = sum(np.sin(k * phase) / k for k in range(1, 15))
    voice = voice * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    voice = 0.3 * voice / np.abs(voice).max() + np.random.default_rng(1).normal(0, 0.01, t.size)
    return {name: (x * 32767).astype(np.int16) for name, x in (("tone", tone), ("voice", voice))}


def encode(
    samples: np.ndarray, bps: int, redundancy: bool, frame_ms: int = 40, copy_bps: int = 0
) -> list[tuple[int, bytes]]:
    """(RTP timestamp, payload) per packet, as the low-band sender makes them."""
    control = SendControl(
        audio_bps=bps,
        expected_loss_pct=8,
        audio_redundancy=redundancy,
        audio_frame_ms=frame_ms,
        audio_copy_bps=copy_bps or None,
    )
    return encode_packets(samples, control)


def play(packets: list[tuple[int, bytes]], lost: np.ndarray, scheme: dict) -> dict:
    """Feed the surviving packets; measure missing/concealed audio and gaps."""
    frames, buffer = receive_packets(packets, set(np.flatnonzero(lost).tolist()), **scheme)
    bad_ms, run, gaps, longest = 0.0, 0.0, 0, 0.0
    expected = 0

    def close_run() -> None:
        nonlocal run, gaps, longest
        if run >= GAP_MS:
            gaps += 1
        longest, run = max(longest, run), 0.0

    for frame in frames:
        missing = (frame.pts - expected) * 1000 / RATE
        if missing > 0:
            bad_ms += missing
            run += missing
        ms = frame.samples * 1000 / RATE
        if frame.opaque == "plc":
            bad_ms += ms
            run += ms
        else:
            close_run()
        expected = frame.pts + frame.samples
    close_run()
    return {"bad_ms": round(bad_ms), "gaps": gaps, "longest_ms": round(longest)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--bitrates", default="16000,24000")
    parser.add_argument("--losses", default="0.03,0.05")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--frame-ms", type=int, default=40, help="packet length (40 or 60)")
    parser.add_argument(
        "--copy-bps", type=int, default=0, help="re-encode the copy at this rate (0: the packet)"
    )
    args = parser.parse_args()
    print(
        "signal | Opus kbit/s | loss | scheme | wire kbit/s | missing+concealed ms | "
        "gaps ≥60 ms | longest ms  (sum over seeds)"
    )
    for name, samples in signals(args.seconds).items():
        for bps in (int(b) for b in args.bitrates.split(",")):
            plain = encode(samples, bps, False, args.frame_ms)
            padded = encode(samples, bps, True, args.frame_ms, args.copy_bps)
            for loss in (float(x) for x in args.losses.split(",")):
                for scheme_name, scheme in SCHEMES.items():
                    packets = padded if scheme["use_copy"] else plain
                    wire = sum(len(p) + 60 for _, p in packets) * 8 / args.seconds / 1000
                    total = {"bad_ms": 0, "gaps": 0, "longest_ms": 0}
                    for seed in range(args.seeds):
                        lost = np.random.default_rng(seed).random(len(packets)) < loss
                        r = play(packets, lost, scheme)
                        total["bad_ms"] += r["bad_ms"]
                        total["gaps"] += r["gaps"]
                        total["longest_ms"] = max(total["longest_ms"], r["longest_ms"])
                    print(
                        f"{name} | {bps // 1000} | {loss:.0%} | {scheme_name} | {wire:.1f} | "
                        f"{total['bad_ms']} | {total['gaps']} | {total['longest_ms']}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
