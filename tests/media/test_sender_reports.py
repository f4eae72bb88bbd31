"""Our audio RTCP sender reports pair their NTP time with the sample captured then, so the
far end's lip sync (ours, Chrome's) places voice where it was spoken, not 20–40 ms later."""

from __future__ import annotations

import asyncio
import time

from aiortc import clock

from app.media.engine import MediaConfig, MediaState
from app.media.ladder import rung_index
from app.media.loopback import use_loopback_candidates
from app.media.sample_clock import SampleClock
from app.media.sources import ToneAudioTrack
from tests.support.memory_signaling import SignalingPair

SAMPLE = 48_000 * 2  # the tone sample compared (2 s into the stream)


def test_the_sample_clock_keeps_the_least_delayed_frame_and_follows_a_restart() -> None:
    now = [100.0]
    sample_clock = SampleClock(48_000, window=10, now=lambda: now[0])
    assert sample_clock.sample_at(100.0) is None
    for n, late_ms in enumerate([7, 0.5, 30, 12, 3, 90, 1, 4]):  # a loaded loop: always late
        now[0] = 100.0 + n * 0.02 + late_ms / 1000
        sample_clock.frame_arrived(n * 960)
    assert sample_clock.sample_at(100.5) == 24_000 - 24  # 0.5 ms: the least delayed frame
    for n in range(8, 18):  # the source restarted its clock 1.5 s later after a stall
        now[0] = 101.5 + n * 0.02
        sample_clock.frame_arrived(n * 960)
    assert sample_clock.sample_at(102.0) == 24_000


def test_the_receiver_maps_a_tone_sample_to_when_it_was_generated() -> None:
    # aiortc's own reports put it ≥ 20 ms late: the 40 ms Opus packet's first sample paired
    # with its send time, after its second 20 ms frame was generated and encoded.
    use_loopback_candidates()

    async def call() -> list[float]:
        config = MediaConfig(start_rung=rung_index("160x120@9"), align_reports=True)
        pair = SignalingPair()
        tone = ToneAudioTrack()
        a, b = pair.sessions_for(config, fps=5, a_audio=tone)
        await pair.start()
        errors_ms: list[float] = []
        reports: set[object] = set()
        deadline = time.monotonic() + 60  # bounds a hang only; three reports take ~3 s
        try:
            while len(reports) < 3:
                assert time.monotonic() < deadline, f"only {len(reports)} sender reports"
                await asyncio.sleep(0.05)
                gen = b.generation
                if b.state is not MediaState.connected or gen is None or tone._start is None:
                    continue
                audio = gen.lipsync._streams["audio"]
                implied = audio.sender_time(SAMPLE)
                if implied is None or audio.sr in reports:
                    continue
                reports.add(audio.sr)
                ntp_minus_monotonic = clock.current_ntp_time() / 2**32 - time.monotonic()
                generated = tone._start + SAMPLE / 48_000 + ntp_minus_monotonic
                errors_ms.append((implied - generated) * 1000)
        finally:
            await a.close()
            await b.close()
        return errors_ms

    errors_ms = asyncio.run(call())
    assert all(abs(e) < 10 for e in errors_ms), errors_ms
