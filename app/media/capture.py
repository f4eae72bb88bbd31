"""Real camera and microphone capture through PyAV, with latest-frame-wins buffering.

A reader thread per device pulls from FFmpeg (``av.open(device, format=...)``) as fast as
the device delivers. Video keeps only the newest frame (a stalled encoder never makes the
camera's frames pile up); audio keeps a short bounded queue (``MAX_AUDIO_FRAMES``, oldest
dropped) because audio must not skip in normal operation but must never grow without bound.
``open_sources`` chooses devices from the settings and honours IT policy
(``camera_allowed``, ``microphone_allowed``): a forbidden or missing camera becomes no track
(or the test pattern when ``synthetic_fallback`` is asked for); a forbidden, missing or
broken microphone sends silence. Each such case adds a note the call window puts in words.
Microphones FFmpeg cannot open on Linux go through PortAudio (``app.media.microphone``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import threading
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from app.media.devices import Device, find_device, list_devices
from app.media.microphone import MicrophoneUnavailable, PortAudioMicrophone
from app.media.sources import SyntheticVideoTrack, ToneAudioTrack

log = logging.getLogger(__name__)
MAX_AUDIO_FRAMES = 25  # ~0.5 s


class _DeviceReader:
    """Reads one FFmpeg input on a thread; hands frames to the loop."""

    def __init__(self, device: Device, options: dict[str, str]) -> None:
        self.device = device
        self.options = options
        self.loop = asyncio.get_running_loop()
        self.latest: Any = None
        self.audio: collections.deque[Any] = collections.deque(maxlen=MAX_AUDIO_FRAMES)
        self.ready = asyncio.Event()
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"capture-{device.kind}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            container = av.open(
                self.device.id, format=self.device.format, options=self.options, timeout=10
            )
        except Exception as exc:  # noqa: BLE001 - reported to the user as "cannot open"
            self.error = f"cannot open {self.device.name}: {exc}"
            log.warning(self.error)
            self.loop.call_soon_threadsafe(self.ready.set)
            return
        try:
            for frame in container.decode(container.streams[0]):
                if self._stop.is_set():
                    break
                if self.device.kind == "camera":
                    self.latest = frame
                else:
                    self.audio.append(frame)
                self.loop.call_soon_threadsafe(self.ready.set)
        except Exception as exc:  # noqa: BLE001 - unplugged device
            self.error = f"{self.device.name} stopped: {exc}"
            log.warning(self.error)
        finally:
            container.close()
            self.loop.call_soon_threadsafe(self.ready.set)

    def stop(self) -> None:
        self._stop.set()


class CaptureTrack(MediaStreamTrack):
    """A camera or microphone as an aiortc track."""

    def __init__(self, device: Device, options: dict[str, str] | None = None) -> None:
        super().__init__()
        self.kind = "video" if device.kind == "camera" else "audio"
        self._reader = _DeviceReader(device, options or {})

    async def recv(self) -> Any:
        reader = self._reader
        while True:
            if reader.error and reader.latest is None and not reader.audio:
                raise MediaStreamError(reader.error)
            if self.kind == "video" and reader.latest is not None:
                frame, reader.latest = reader.latest, None
                return frame
            if self.kind == "audio" and reader.audio:
                return reader.audio.popleft()
            reader.ready.clear()
            await reader.ready.wait()

    def stop(self) -> None:
        super().stop()
        self._reader.stop()


def camera_options() -> dict[str, str]:
    """Ask the camera for what the top ladder rung needs (the driver may pick near it)."""
    opts = {"video_size": "640x480", "framerate": "15"}
    if sys.platform == "win32":
        opts["rtbufsize"] = "10M"
    return opts


async def open_sources(
    settings: Any, synthetic_fallback: bool = True
) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None, list[str]]:
    """(video, audio, notes) for a call, from settings and policy. Await on the media loop
    (devices are listed on a worker thread). ``notes`` say why a device is not used.
    """
    notes: list[str] = []
    devices = await asyncio.to_thread(list_devices)
    video: MediaStreamTrack | None = None
    audio: MediaStreamTrack | None = None
    if not settings.get("camera_allowed", True):
        notes.append("camera_disabled_by_policy")
    elif not settings.get("audio_only", False):
        cam = find_device("camera", settings.get("camera_device", ""), devices) or next(
            iter(devices["cameras"]), None
        )
        if cam is not None:
            video = CaptureTrack(cam, camera_options())
        elif synthetic_fallback:
            notes.append("no_camera_test_pattern")
            video = SyntheticVideoTrack(640, 480, 15)
    if not settings.get("microphone_allowed", True):
        notes.append("microphone_disabled_by_policy")
        # Silence, not nothing: the far end's dead-path detector needs packets from us.
        audio = ToneAudioTrack(level=0.0)
    else:
        mic = find_device("microphone", settings.get("microphone_device", ""), devices) or next(
            iter(devices["microphones"]), None
        )
        if mic is not None and mic.format == "portaudio":
            try:
                audio = PortAudioMicrophone(mic.id)
            except MicrophoneUnavailable as exc:
                log.warning("%s", exc)
                notes.append("microphone_failed")
                audio = ToneAudioTrack(level=0.0)  # silence keeps the far end's detector quiet
        elif mic is not None:
            audio = CaptureTrack(mic)
        else:
            # Silence, not a test tone: a tone would beep through the whole consultation.
            notes.append("no_microphone")
            audio = ToneAudioTrack(level=0.0)
    return video, audio, notes
