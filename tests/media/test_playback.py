"""Received audio reaches the speaker: the playback buffer, a real PortAudio stream into a
null ALSA sink, and a call that goes on (and says so) when there is no speaker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from av import AudioFrame

from app.media.engine import MediaConfig, MediaSession
from app.media.playback import PlaybackBuffer, list_speakers, push_frame
from app.media.sources import ToneAudioTrack
from tests.support.memory_signaling import SignalingPair

REPO = Path(__file__).resolve().parents[2]


def test_buffer_plays_in_order_after_a_cushion_and_never_grows_without_bound() -> None:
    buffer = PlaybackBuffer(max_ms=100, start_ms=40)
    buffer.push(np.arange(960, dtype=np.int16))  # 20 ms: below the cushion
    assert not buffer.pull(480).any()  # silence until 40 ms are there
    buffer.push(np.arange(960, 1920, dtype=np.int16))
    out = np.concatenate([buffer.pull(480) for _ in range(4)])
    assert (out == np.arange(1920)).all()  # in order, nothing lost, nothing repeated
    assert buffer.pull(480).sum() == 0 and buffer.underruns == 1  # underrun: silence
    for i in range(50):  # a stalled device: 1 s pushed, nobody pulling
        buffer.push(np.full(960, i, dtype=np.int16))
    assert buffer.buffered_ms == pytest.approx(100)  # bounded: latest audio wins
    assert buffer.pull(960)[0] == 45  # the oldest was dropped, the newest kept


def test_stereo_frames_are_mixed_to_mono() -> None:
    buffer = PlaybackBuffer(start_ms=0)
    pcm = np.array([[100, 300] * 480], dtype=np.int16)  # packed stereo L=100 R=300
    frame = AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
    frame.sample_rate = 48_000
    push_frame(buffer, frame)
    assert (buffer.pull(480) == 200).all()


@pytest.mark.skipif(sys.platform != "linux", reason="the null sink is ALSA's")
def test_playback_into_a_null_alsa_sink(tmp_path: Path) -> None:
    try:
        import sounddevice  # noqa: F401
    except OSError as exc:
        pytest.skip(f"PortAudio missing: {exc}")
    home = tmp_path
    (home / ".asoundrc").write_text("pcm.!default { type null }\n", "utf-8")
    # PortAudio enumerates devices once, at import: a fresh process sees the null sink.
    script = textwrap.dedent("""
        import time, numpy as np
        from app.media.playback import PlaybackBuffer, list_speakers, open_speaker
        assert [s.id for s in list_speakers()] == ["default"], list_speakers()
        buffer = PlaybackBuffer(max_ms=2000)
        speaker = open_speaker("no-longer-plugged-in", buffer)  # gone: the default output
        buffer.push(np.full(48000, 1000, np.int16))
        t0 = time.monotonic()
        while buffer.buffered_ms > 0 and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        speaker.close()
        print("drained", buffer.buffered_ms, speaker.name)
    """)
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[:3] == ["drained", "0.0", "default"]


@pytest.mark.skipif(bool(list_speakers()), reason="this machine has a speaker")
def test_without_a_speaker_the_call_goes_on_and_says_so() -> None:
    async def call() -> tuple[list[str], int]:
        pair = SignalingPair()
        events: list[str] = []

        def listener(event) -> None:  # noqa: ANN001
            if event.kind == "speaker":
                events.append(event.reason)

        a = MediaSession(
            offerer=True,
            send_signal=pair.sender("a"),
            video_source=None,
            audio_source=ToneAudioTrack(),
            config=MediaConfig(play_audio=True),
            listener=listener,
        )
        b = MediaSession(
            offerer=False,
            send_signal=pair.sender("b"),
            video_source=None,
            audio_source=ToneAudioTrack(),
        )
        pair.sessions.update(a=a, b=b)
        await b.start()
        await a.start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 15:
            await asyncio.sleep(0.2)
            gen = a.generation
            if gen and any(d.audio.frames > 20 for d in gen.drains):
                break
        frames = sum(d.audio.frames for d in a.generation.drains) if a.generation else 0
        await a.close()
        await b.close()
        return events, frames

    events, frames = asyncio.run(call())
    assert events == ["no_speaker"]
    assert frames > 20  # audio still received (and shown in the meters)
