"""One still picture from the camera (a photo of a wound, a rash, a paper ECG) as JPEG bytes.
Blocking: call on a worker. Qt-free."""

from __future__ import annotations

import io
from typing import Any


class NoCamera(RuntimeError):
    """No camera is attached, or it cannot be opened (the message says which)."""


def snapshot_jpeg(settings: Any = None, timeout_s: float = 10.0) -> bytes:
    """Open the configured (or first) camera, take one frame, return it as JPEG."""
    import av

    from app.media.capture import camera_options
    from app.media.devices import find_device, list_devices

    devices = list_devices()
    chosen = settings.get("camera", "") if settings is not None else ""
    camera = find_device("camera", chosen, devices) if chosen else None
    camera = camera or next(iter(devices.get("camera", [])), None)
    if camera is None:
        raise NoCamera("no camera found")
    try:
        container = av.open(
            camera.id, format=camera.format, options=camera_options(), timeout=timeout_s
        )
    except Exception as exc:  # noqa: BLE001 - named for the user
        raise NoCamera(f"cannot open {camera.name}: {exc}") from exc
    try:
        for n, frame in enumerate(container.decode(video=0)):
            if n >= 3:  # the first frames of many webcams are dark (exposure settling)
                out = io.BytesIO()
                frame.to_image().save(out, "JPEG", quality=90)
                return out.getvalue()
    finally:
        container.close()
    raise NoCamera(f"{camera.name} gave no picture")
