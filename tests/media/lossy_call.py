"""What a test reads from a real low-band call's receiving end (lossy-call tests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from app.media import aiortc_adapter as adapter
from app.media.engine import MediaSession


def frames_shown(session: MediaSession) -> int:
    """Video frames ``session`` has shown so far."""
    gen = session.generation
    return sum(d.video.frames for d in gen.drains if d.track.kind == "video") if gen else 0


def video_buffer(session: MediaSession) -> object | None:
    """``session``'s video receive buffer (``DeadlineVideoBuffer``), once there is one."""
    gen = session.generation
    for tx in gen.pc.getTransceivers() if gen else []:
        if tx.kind == "video":
            return adapter.jitter_buffer(tx.receiver)
    return None


async def poll_call(
    done: Callable[[], bool], each: Callable[[], None] | None = None, timeout_s: float = 60.0
) -> None:
    """Every 0.2 s run ``each`` and stop once ``done()``, or after ``timeout_s`` (generous: a
    loaded CI box is slow); the test then asserts what it needs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if each is not None:
            each()
        if done():
            return
        await asyncio.sleep(0.2)
