"""The microphone through PortAudio (Linux: PyAV's wheel cannot open one), fed by ALSA's
``file`` plugin so a real capture stream delivers a known tone on a machine without audio."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(sys.platform != "linux", reason="the capture source is ALSA's file plugin")
def test_the_microphone_delivers_what_the_device_captures(tmp_path: Path) -> None:
    try:
        import sounddevice  # noqa: F401
    except OSError as exc:
        pytest.skip(f"PortAudio missing: {exc}")
    t = np.arange(48000 * 3) / 48000
    (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tofile(tmp_path / "in.raw")
    (tmp_path / ".asoundrc").write_text(
        textwrap.dedent(f"""
        pcm.!default {{
          type file
          slave.pcm "null"
          file "/dev/null"
          infile "{tmp_path / "in.raw"}"
          format "raw"
        }}
    """),
        "utf-8",
    )
    # PortAudio enumerates devices once, at import: a fresh process sees this ALSA setup.
    script = textwrap.dedent("""
        import asyncio, numpy as np
        from app.media.capture import open_sources
        from app.media.microphone import PortAudioMicrophone

        async def main():
            video, audio, notes = await open_sources({"camera_allowed": False})
            assert isinstance(audio, PortAudioMicrophone), (audio, notes)
            assert "no_microphone" not in notes, notes
            frames = [await asyncio.wait_for(audio.recv(), 5) for _ in range(40)]
            audio.stop()
            pts = [f.pts for f in frames]
            assert pts == [960 * i for i in range(40)], pts[:5]
            assert all(f.sample_rate == 48000 and f.layout.name == "mono" for f in frames)
            pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
            print("peak", int(np.abs(pcm).max()), "queue", len(audio._frames), audio.name)

        asyncio.run(main())
    """)
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    words = result.stdout.split()
    assert words[0] == "peak" and 9000 < int(words[1]) < 10500  # the 0.3 full-scale tone
    assert int(words[3]) <= 25  # however fast the device runs, at most 0.5 s waits
    assert words[4] == "default"


def test_a_forbidden_microphone_sends_silence_and_says_why() -> None:
    import asyncio

    from app.media.capture import open_sources

    async def sources() -> tuple[object, list[str]]:
        _video, audio, notes = await open_sources(
            {"microphone_allowed": False, "camera_allowed": False}
        )
        frame = await audio.recv()
        return frame, notes

    frame, notes = asyncio.run(sources())
    assert notes == ["camera_disabled_by_policy", "microphone_disabled_by_policy"]
    assert not frame.to_ndarray().any()  # silence, not a tone
