"""Benchmark: how far an audio RTCP sender report puts a sample from when it was generated.

Lip sync (``app.media.lipsync``) turns every frame's RTP timestamp into the sender's clock
through the stream's last sender report. Stock aiortc pairs the RTP timestamp of the last packet
it *sent* (the packet's first sample) with the time it sent it, so a receiver takes each
audio sample as generated later than it was: by the part of the packet captured after its
first sample (our Opus packets are 40 ms; the tone source hands out 20 ms frames at their
first sample, so ~20 ms with it, ~40 ms with a microphone that hands a frame out when it is
full) plus the encode and send time. The video stream's report carries only its encode
time. The receiver's skew figure (video − audio) is off by the difference. Our low-band
audio sender reports the sample captured at the report's time instead
(``app.media.sample_clock``): ~+25 ms before that change, ~+0.6 ms after (docs/calls.md).

Two ``MediaSession`` objects on loopback (signaling in memory, tone + pattern); at the
receiver, the report-implied sender time of one tone sample against the time the tone
generated it (same machine, same clock), polled every 0.1 s.

    .venv/bin/python bench/sender_report_bias.py --duration 8
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc import clock  # noqa: E402

from app.media.engine import MediaConfig, MediaState  # noqa: E402
from app.media.ladder import rung_index  # noqa: E402
from app.media.loopback import use_loopback_candidates  # noqa: E402
from app.media.sources import ToneAudioTrack  # noqa: E402
from tests.support.memory_signaling import SignalingPair  # noqa: E402

SAMPLE_AT_S = 3  # the tone sample compared (any sample of the stream would do)


async def measure(duration: float, align: bool) -> list[float]:
    """Report-implied minus true generation time of one tone sample, ms, every 0.1 s."""
    use_loopback_candidates()
    config = MediaConfig(start_rung=rung_index("160x120@10"), align_reports=align)
    pair = SignalingPair()
    tone = ToneAudioTrack()
    a, b = pair.sessions_for(config, a_audio=tone)
    await pair.start()
    deadline = time.monotonic() + 30
    while b.state is not MediaState.connected:
        if time.monotonic() > deadline:
            raise SystemExit("the loopback call did not connect within 30 s")
        await asyncio.sleep(0.05)
    ntp_minus_monotonic = clock.current_ntp_time() / 2**32 - time.monotonic()
    biases: list[float] = []
    end = time.monotonic() + duration
    while time.monotonic() < end:
        await asyncio.sleep(0.1)
        gen = b.generation
        if gen is None or tone._start is None:
            continue
        # Reads LipSync's per-stream state: the receiver's own mapping, not a copy of it.
        implied = gen.lipsync._streams["audio"].sender_time(48_000 * SAMPLE_AT_S)
        if implied is None:
            continue
        generated = tone._start + SAMPLE_AT_S + ntp_minus_monotonic
        biases.append((implied - generated) * 1000)
    await a.close()
    await b.close()
    return biases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0)
    args = parser.parse_args()
    # aiortc's own pairing first (the baseline, same run), then ours (MediaConfig.align_reports).
    for label, align in (("aiortc's pairing", False), ("aligned to capture", True)):
        biases = asyncio.run(measure(args.duration, align))
        if not biases:
            raise SystemExit(f"{label}: no sender report arrived")
        print(
            f"{label}: audio sender-report bias (implied − generated), ms: median "
            f"{statistics.median(biases):.1f}, min {min(biases):.1f}, max {max(biases):.1f} "
            f"({len(biases)} readings); positive: the receiver takes audio as newer than it "
            "is, so its skew figure overstates the video's lag by that much"
        )


if __name__ == "__main__":
    main()
