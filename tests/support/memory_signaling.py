"""Two ``MediaSession`` objects wired back to back without a hub (engine tests, benchmark).

Each side's ``send_signal`` delivers to the other side's ``handle_signal`` on the same loop,
optionally after a delay, like the hub relay would.
"""

from __future__ import annotations

import asyncio

from app.media.engine import MediaSession, SendSignal


class SignalingPair:
    """Connects ``a`` and ``b`` once both are attached."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.sessions: dict[str, MediaSession] = {}
        self.up = True  # False: signals are lost (emulates the hub being unreachable)

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

            asyncio.get_running_loop().create_task(deliver())

        return send
