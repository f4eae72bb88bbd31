"""A microphone through PortAudio (``sounddevice``), for where FFmpeg cannot open one.

PyAV's Linux wheel has no PulseAudio input and its bundled ALSA library does not read the
system's ALSA configuration, so on a Linux desktop (PulseAudio or PipeWire) no microphone
FFmpeg lists can be opened. PortAudio, already used for the speaker, can: its ALSA host
API reaches the sound server through the system's ``default`` device. Windows and macOS
keep FFmpeg's dshow / avfoundation capture.

PortAudio's thread hands 20 ms blocks to the media loop; at most ``MAX_FRAMES`` wait (the
oldest is dropped), so a stalled encoder never builds up delay. Frames are mono s16 at
48 kHz with a running sample count as their time stamp.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from app.media.playback import RATE, portaudio_device_names, sounddevice_module

log = logging.getLogger(__name__)

BLOCK = 960  # 20 ms
MAX_FRAMES = 25  # 0.5 s


class MicrophoneUnavailable(RuntimeError):
    """The microphone could not be opened; the message says why."""


def list_microphones() -> list[str]:
    """Input device names PortAudio knows (empty without any or without PortAudio)."""
    return portaudio_device_names("input")


class PortAudioMicrophone(MediaStreamTrack):
    """An input device as an aiortc audio track (open on the media loop)."""

    kind = "audio"

    def __init__(self, device: str = "") -> None:
        super().__init__()
        self._media_loop = asyncio.get_running_loop()
        self._frames: collections.deque[np.ndarray] = collections.deque(maxlen=MAX_FRAMES)
        self._ready = asyncio.Event()
        self._samples = 0
        self.dropped = 0
        names = list_microphones()
        if not names:
            raise MicrophoneUnavailable("no audio input device")
        self.name = device if device in names else "default"
        self._stream = None
        try:
            self._stream = sounddevice_module().InputStream(
                samplerate=RATE,
                channels=1,
                dtype="int16",
                blocksize=BLOCK,
                device=device if device in names else None,
                callback=self._on_block,
                latency="low",
            )
            self._stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError and driver oddities
            raise MicrophoneUnavailable(f"cannot open the microphone: {exc}") from exc

    def _on_block(self, indata, _frames, _time, _status) -> None:  # noqa: ANN001 - PortAudio thread
        block = indata[:, 0].copy()
        self._media_loop.call_soon_threadsafe(self._push, block)

    def _push(self, block: np.ndarray) -> None:
        if len(self._frames) == self._frames.maxlen:
            self.dropped += 1
        self._frames.append(block)
        self._ready.set()

    async def recv(self) -> AudioFrame:
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError("microphone stopped")
            self._ready.clear()
            await self._ready.wait()
        block = self._frames.popleft()
        frame = AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts, frame.time_base = self._samples, fractions.Fraction(1, RATE)
        self._samples += block.size
        return frame

    def stop(self) -> None:
        super().stop()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # noqa: BLE001 - the device may already be gone
                log.debug("closing the microphone failed", exc_info=True)
        self._ready.set()
