"""Two ``MediaSession`` objects wired back to back without a hub (engine tests, benchmark).

Each side's ``send_signal`` delivers to the other side's ``handle_signal`` on the same loop,
optionally after a delay, like the hub relay would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiortc.mediastreams import MediaStreamTrack

from app.media.engine import MediaConfig, MediaEvent, MediaSession, SendSignal
from app.media.sources import SyntheticVideoTrack, ToneAudioTrack


class SignalingPair:
    """Connects ``a`` and ``b`` once both are attached."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.sessions: dict[str, MediaSession] = {}
        self.up = True  # False: signals are lost (emulates the hub being unreachable)
        self.copies = 1  # 2: every signal arrives twice (one app with two hub sockets)

    def sender(self, me: str) -> SendSignal:
        """The ``send_signal`` callable for side ``me`` ("a" or "b")."""
        other = "b" if me == "a" else "a"

        async def send(kind: str, session: int, sdp: str) -> None:
            if not self.up:
                return
            target = self.sessions[other]

            async def deliver() -> None:
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                await target.handle_signal(kind, session, sdp)

            for _ in range(self.copies):
                asyncio.get_running_loop().create_task(deliver())

        return send

    def sessions_for(
        self,
        config: MediaConfig,
        *,
        fps: int = 10,
        a_video: MediaStreamTrack | None = None,
        a_audio: MediaStreamTrack | None = None,
        a_send: SendSignal | None = None,
        a_listener: Callable[[MediaEvent], None] | None = None,
    ) -> tuple[MediaSession, MediaSession]:
        """Offerer ``a`` and answerer ``b`` on this pair (160×120 pattern and tone unless
        given), attached but not started: ``await pair.start()``."""
        a = MediaSession(
            offerer=True,
            send_signal=a_send or self.sender("a"),
            config=config,
            video_source=a_video or SyntheticVideoTrack(160, 120, fps),
            audio_source=a_audio or ToneAudioTrack(),
            listener=a_listener,
        )
        b = MediaSession(
            offerer=False,
            send_signal=self.sender("b"),
            config=config,
            video_source=SyntheticVideoTrack(160, 120, fps),
            audio_source=ToneAudioTrack(),
        )
        self.sessions.update(a=a, b=b)
        return a, b

    async def start(self) -> None:
        """Start the answerer, then the offerer (which sends the first offer)."""
        await self.sessions["b"].start()
        await self.sessions["a"].start()
