"""What a test reads from a real low-band call's receiving end (lossy-call tests)."""

from __future__ import annotations

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
