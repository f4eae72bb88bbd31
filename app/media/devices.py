"""Cameras, microphones and speakers on this PC, and how to open them (PyAV/FFmpeg; speakers
through PortAudio, ``app.media.playback``).

``list_devices()`` never hangs: enumeration runs on a helper thread and whatever is known
after ``timeout`` seconds is returned (a driver that blocks, as some dshow drivers do, costs
the Settings dialog at most that long and is logged). Per platform:

- Windows: FFmpeg ``dshow`` with ``list_devices`` (names from FFmpeg's log);
  opened as ``video=<name>`` / ``audio=<name>``.
- macOS: ``avfoundation`` with ``list_devices``; opened as ``<index>:none`` / ``none:<index>``.
- Linux: ``/dev/video*`` (names from sysfs) through ``v4l2``; microphones from PulseAudio
  (``pactl``) when available, else ALSA cards (``/proc/asound``).
"""

from __future__ import annotations

import concurrent.futures
import glob
import logging
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Device:
    """A capture device: ``id`` is what is stored in settings and handed to FFmpeg."""

    id: str
    name: str
    kind: str  # "camera" | "microphone" | "speaker"
    format: str  # FFmpeg input format (dshow, avfoundation, v4l2, pulse, alsa) or portaudio


def _ffmpeg_listing(fmt: str, target: str) -> list[str]:
    """Lines FFmpeg logs when asked to list devices of ``fmt``."""
    import av
    import av.logging

    with av.logging.Capture() as logs:
        try:
            av.open(target, format=fmt, options={"list_devices": "true"}).close()
        except Exception:  # noqa: BLE001 - listing always "fails" after printing
            pass
    return [str(message) for _level, _name, message in logs]


def _windows() -> list[Device]:
    out: list[Device] = []
    for line in _ffmpeg_listing("dshow", "dummy"):
        match = re.search(r'"([^"]+)"\s*\((video|audio)\)', line)
        if match:
            name, kind = match.groups()
            out.append(
                Device(
                    f"{kind}={name}", name, "camera" if kind == "video" else "microphone", "dshow"
                )
            )
    return out


def _macos() -> list[Device]:
    out: list[Device] = []
    section = ""
    for line in _ffmpeg_listing("avfoundation", ""):
        if "video devices" in line:
            section = "camera"
        elif "audio devices" in line:
            section = "microphone"
        match = re.search(r"\[(\d+)\]\s+(.+)", line)
        if match and section:
            index, name = match.groups()
            target = f"{index}:none" if section == "camera" else f"none:{index}"
            out.append(Device(target, name.strip(), section, "avfoundation"))
    return out


def _linux() -> list[Device]:
    out: list[Device] = []
    for node in sorted(glob.glob("/dev/video*")):
        name_file = Path("/sys/class/video4linux") / Path(node).name / "name"
        try:
            name = name_file.read_text("utf-8").strip()
        except OSError:
            name = node
        out.append(Device(node, f"{name} ({node})", "camera", "v4l2"))
    import av

    if "pulse" not in av.formats_available:
        # PyAV's Linux wheel has neither PulseAudio input nor the system's ALSA
        # configuration: PortAudio opens the microphone instead (app.media.microphone).
        from app.media.microphone import list_microphones

        out.extend(Device(name, name, "microphone", "portaudio") for name in list_microphones())
    elif shutil.which("pactl"):
        try:
            text = subprocess.run(
                ["pactl", "list", "short", "sources"], capture_output=True, text=True, timeout=2
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            text = ""
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) > 1 and not parts[1].endswith(".monitor"):
                out.append(Device(parts[1], parts[1], "microphone", "pulse"))
    if not any(d.kind == "microphone" for d in out):
        try:
            cards = Path("/proc/asound/cards").read_text("utf-8")
        except OSError:
            cards = ""
        for match in re.finditer(r"^\s*(\d+)\s+\[(\S+)\s*\]:\s*(.+)$", cards, re.M):
            index, _short, name = match.groups()
            out.append(Device(f"hw:{index}", name.strip(), "microphone", "alsa"))
    return out


def _speakers() -> list[Device]:
    from app.media.playback import list_speakers

    return [Device(s.id, s.name, "speaker", "portaudio") for s in list_speakers()]


def _enumerate() -> list[Device]:
    if sys.platform == "win32":
        found = _windows()
    elif sys.platform == "darwin":
        found = _macos()
    else:
        found = _linux()
    return found + _speakers()


_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="yiqiao-devices")


def list_devices(timeout: float = 3.0) -> dict[str, list[Device]]:
    """``{"cameras": [...], "microphones": [...], "speakers": [...]}``; empty lists when
    enumeration is slow
    or fails (never raises, never waits longer than ``timeout``)."""
    future = _pool.submit(_enumerate)
    try:
        devices = future.result(timeout)
    except concurrent.futures.TimeoutError:
        log.warning("listing capture devices took longer than %.1f s; giving up", timeout)
        devices = []
    except Exception:  # noqa: BLE001 - a broken driver must not break Settings
        log.exception("listing capture devices failed")
        devices = []
    return {
        "cameras": [d for d in devices if d.kind == "camera"],
        "microphones": [d for d in devices if d.kind == "microphone"],
        "speakers": [d for d in devices if d.kind == "speaker"],
    }


def find_device(kind: str, device_id: str, devices: dict[str, list[Device]]) -> Device | None:
    """The remembered device if it is still plugged in."""
    key = {"camera": "cameras", "microphone": "microphones", "speaker": "speakers"}[kind]
    return next((d for d in devices[key] if d.id == device_id), None)
