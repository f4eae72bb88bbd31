"""Playing received audio on the speaker (PortAudio through ``sounddevice``), Qt-free.

The media loop pushes decoded frames into a ``PlaybackBuffer``; PortAudio's own thread pulls
from it in its callback. Nothing ever waits on the other side: ``push`` never blocks (past
``max_ms`` the oldest audio is dropped, so a stalled device cannot build up delay) and
``pull`` returns silence on an underrun. Playback starts once ``start_ms`` is buffered, a
small cushion against network jitter.

No speaker (CI, a PC without an output device, PortAudio missing) is not an error: the call
goes on and ``open_speaker`` says why there is no sound (``SpeakerUnavailable``).
On Linux ``sounddevice`` needs Debian's ``libportaudio2``; its Windows/macOS wheels bundle
PortAudio.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

RATE = 48_000


class SpeakerUnavailable(RuntimeError):
    """No audio output could be opened; the message says why (for logs)."""


class PlaybackBuffer:
    """Bounded mono s16 sample queue between the media loop and the audio device."""

    def __init__(self, max_ms: float = 300.0, start_ms: float = 60.0) -> None:
        self.max_samples = int(RATE * max_ms / 1000)
        self.start_samples = int(RATE * start_ms / 1000)
        self._chunks: deque[np.ndarray] = deque()
        self._size = 0
        self._playing = False
        self._lock = threading.Lock()
        self.underruns = 0
        self.dropped_samples = 0

    @property
    def buffered_ms(self) -> float:
        return self._size * 1000 / RATE

    def push(self, samples: np.ndarray) -> None:
        """Add mono int16 samples (never blocks; drops the oldest past ``max_ms``)."""
        samples = np.asarray(samples, dtype=np.int16).reshape(-1)
        with self._lock:
            self._chunks.append(samples)
            self._size += samples.size
            while self._size > self.max_samples and self._chunks:
                excess = self._size - self.max_samples
                head = self._chunks[0]
                if head.size <= excess:
                    self._chunks.popleft()
                    self._size -= head.size
                    self.dropped_samples += head.size
                else:
                    self._chunks[0] = head[excess:]
                    self._size -= excess
                    self.dropped_samples += excess

    def pull(self, count: int) -> np.ndarray:
        """Exactly ``count`` samples for the device: what is buffered, then silence."""
        out = np.zeros(count, dtype=np.int16)
        with self._lock:
            if not self._playing:
                if self._size < self.start_samples:
                    return out
                self._playing = True
            filled = 0
            while filled < count and self._chunks:
                head = self._chunks[0]
                take = min(count - filled, head.size)
                out[filled : filled + take] = head[:take]
                filled += take
                self._size -= take
                if take == head.size:
                    self._chunks.popleft()
                else:
                    self._chunks[0] = head[take:]
            if filled < count:
                self.underruns += 1
                self._playing = False  # re-buffer the cushion before playing on
        return out


def push_frame(buffer: PlaybackBuffer, frame) -> None:  # noqa: ANN001 - av.AudioFrame
    """Hand one decoded audio frame to ``buffer`` (mixed to mono, resampled if needed)."""
    if frame.sample_rate != RATE or frame.format.name not in ("s16", "s16p"):
        return  # our receivers decode to 48 kHz s16; anything else is not ours to play
    pcm = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.name == "s16" and channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    elif pcm.ndim == 2 and pcm.shape[0] > 1:
        pcm = pcm.mean(axis=0)
    buffer.push(np.asarray(pcm, dtype=np.int16))


@dataclass(frozen=True)
class Speaker:
    """An audio output device: ``id`` is what the ``speaker_device`` setting stores."""

    id: str
    name: str


def sounddevice_module():  # noqa: ANN201 - the module, or an explanation
    """``sounddevice``, or ``SpeakerUnavailable`` saying why PortAudio cannot be used."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: PortAudio library missing
        raise SpeakerUnavailable(f"PortAudio not available: {exc}") from exc
    return sounddevice


def portaudio_device_names(direction: str) -> list[str]:
    """Names of PortAudio's ``"input"`` or ``"output"`` devices (empty when there are none
    or PortAudio is missing: a broken driver must not break Settings or a call)."""
    try:
        devices = sounddevice_module().query_devices()
    except Exception as exc:  # noqa: BLE001 - PortAudio missing or a broken driver
        log.info("no PortAudio %s devices listed: %s", direction, exc)
        return []
    return [str(d["name"]) for d in devices if d.get(f"max_{direction}_channels", 0) > 0]


def list_speakers() -> list[Speaker]:
    """Output devices PortAudio knows (empty when there are none or PortAudio is missing)."""
    return [Speaker(name, name) for name in portaudio_device_names("output")]


class SpeakerOutput:
    """An open output stream fed from a ``PlaybackBuffer``."""

    def __init__(self, stream, buffer: PlaybackBuffer, name: str) -> None:  # noqa: ANN001
        self._stream = stream
        self.buffer = buffer
        self.name = name

    def close(self) -> None:
        """Stop playing (safe to call twice)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # noqa: BLE001 - closing a vanished device
                log.debug("closing the speaker failed", exc_info=True)


def open_speaker(device_id: str = "", buffer: PlaybackBuffer | None = None) -> SpeakerOutput:
    """Open ``device_id`` (a ``Speaker.id``; empty or gone: the default output).

    Raises ``SpeakerUnavailable`` when there is no output device at all."""
    sd = sounddevice_module()
    buffer = buffer or PlaybackBuffer()
    names = [s.id for s in list_speakers()]
    if not names:
        raise SpeakerUnavailable("no audio output device")
    device = device_id if device_id in names else None

    def callback(outdata, frames, _time, _status) -> None:  # noqa: ANN001 - PortAudio thread
        outdata[:, 0] = buffer.pull(frames)

    try:
        stream = sd.OutputStream(
            samplerate=RATE,
            channels=1,
            dtype="int16",
            device=device,
            callback=callback,
            blocksize=960,
            latency="low",
        )
        stream.start()
    except Exception as exc:  # noqa: BLE001 - PortAudioError and driver oddities
        raise SpeakerUnavailable(f"cannot open the speaker: {exc}") from exc
    return SpeakerOutput(stream, buffer, device or "default")
