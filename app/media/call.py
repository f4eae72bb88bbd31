"""One user's calls: ringing, accepting, hanging up, and the media session of the active call.

``CallController`` joins the hub's signaling (``HubSignaling``) to a ``MediaSession``. It
runs on the media loop; the GUI talks to it through ``app.ui.bridge.run_async`` and hears
back through ``listener`` (wrap it with ``call_on_gui``). One call at a time (1:1); for a
future SFU the peer becomes the SFU and only ``MediaSession``'s signaling target changes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from aiortc.mediastreams import MediaStreamTrack
from pydantic import BaseModel

from app.media.engine import MediaConfig, MediaEvent, MediaSession, MediaState
from app.media.hub_signaling import HubSignaling
from app.media.slots import LatestFrameSlot
from app.protocol import signaling as sig

log = logging.getLogger(__name__)

SourcePair = tuple[MediaStreamTrack | None, MediaStreamTrack | None]
# Sync or async: opening real devices lists them first (off the loop, see app.media.capture).
SourceFactory = Callable[[], SourcePair | Awaitable[SourcePair]]


class CallPhase(StrEnum):
    """Where the current call is, as a person sees it."""

    idle = "idle"
    calling = "calling"  # we rang, nobody answered yet
    incoming = "incoming"  # someone rings us
    active = "active"  # accepted; media connecting / connected / reconnecting
    ended = "ended"


@dataclass
class CallEvent:
    """Told to the call window; ``kind``: phase | incoming | media | missed | error."""

    kind: str
    call_id: str = ""
    phase: CallPhase | None = None
    reason: str = ""
    incoming: sig.Incoming | None = None
    media: MediaEvent | None = None
    missed: sig.MissedCall | None = None


class CallController:
    """The signed-in user's call switch. Use on the media loop only."""

    def __init__(
        self,
        signaling: HubSignaling,
        sources: SourceFactory,
        listener: Callable[[CallEvent], None],
        author: str = "",
        media_config: MediaConfig | None = None,
        remote_slot: LatestFrameSlot | None = None,
        preview_slot: LatestFrameSlot | None = None,
    ) -> None:
        self.signaling = signaling
        self.sources = sources
        self.listener = listener
        self.author = author
        self.media_config = media_config or MediaConfig()
        self._call_ice: list[sig.IceServer] = []  # STUN/TURN the hub gave for this call
        self.remote_slot = remote_slot or LatestFrameSlot()
        self.preview_slot = preview_slot
        self.phase = CallPhase.idle
        self.call_id: str | None = None
        self.offerer = False
        self.is_test_call = False
        self.media: MediaSession | None = None
        self.incoming: sig.Incoming | None = None
        self.end_reason = ""

    # ---- what the user does ------------------------------------------------------------

    async def call(self, consultation_id: str, callee_id: str | None = None) -> str:
        """Ring the other side of a consultation; returns the call id."""
        self._begin(CallPhase.calling, offerer=True)
        assert self.call_id is not None
        sent = await self.signaling.send(
            sig.Invite(call_id=self.call_id, consultation_id=consultation_id, callee_id=callee_id)
        )
        if not sent:
            await self._ended("hub_unreachable")
        return self.call_id

    async def test_call(self) -> str:
        """Call the hub's echo peer (own camera, microphone and link come back)."""
        self._begin(CallPhase.calling, offerer=True)
        self.is_test_call = True
        assert self.call_id is not None
        if not await self.signaling.send(sig.TestCallStart(call_id=self.call_id)):
            await self._ended("hub_unreachable")
        return self.call_id

    async def accept(self) -> None:
        """Take the ringing call."""
        if self.phase is not CallPhase.incoming or self.call_id is None:
            return
        self.offerer = False
        await self.signaling.send(sig.Accept(call_id=self.call_id))
        await self._start_media()

    async def decline(self, reason: str = "declined") -> None:
        if self.phase is CallPhase.incoming and self.call_id:
            await self.signaling.send(sig.Decline(call_id=self.call_id, reason=reason))
            await self._ended("declined_by_me")

    async def cancel(self) -> None:
        if self.phase is CallPhase.calling and self.call_id and not self.is_test_call:
            await self.signaling.send(sig.Cancel(call_id=self.call_id))
            await self._ended("cancelled_by_me")
        elif self.phase is CallPhase.calling:
            await self.hangup()

    async def hangup(self) -> None:
        """End the call for everyone."""
        call_id = self.call_id
        if call_id and self.phase in (CallPhase.active, CallPhase.calling):
            closing = self._ended("hangup_by_me")  # phase changes before anything can race it
            await self.signaling.send(sig.Hangup(call_id=call_id))
            await closing

    # ---- what the hub says -------------------------------------------------------------

    async def on_hub_message(self, m: BaseModel) -> None:
        """Pass every frame from ``HubSignaling`` here."""
        if isinstance(m, sig.Hello):
            for missed in m.missed_calls:
                self.listener(CallEvent("missed", call_id=missed.call_id, missed=missed))
            return
        if isinstance(m, sig.Missed):
            self.listener(CallEvent("missed", call_id=m.call.call_id, missed=m.call))
            return
        if isinstance(m, sig.Incoming):
            if self.phase in (CallPhase.idle, CallPhase.ended):
                self.call_id, self.incoming, self.is_test_call = m.call_id, m, False
                self._call_ice = list(m.ice_servers)
                self._set_phase(CallPhase.incoming)
                self.listener(CallEvent("incoming", call_id=m.call_id, incoming=m))
            return
        if getattr(m, "call_id", None) != self.call_id or self.call_id is None:
            return
        if isinstance(m, sig.Accepted) and self.phase is CallPhase.calling:
            self._call_ice = list(m.ice_servers)
            await self._start_media()
        elif isinstance(m, sig.Signal) and self.media is not None:
            await self.media.handle_signal(m.kind, m.session, m.sdp)
        elif isinstance(m, (sig.Declined, sig.Busy, sig.Unavailable, sig.Cancelled, sig.Ended)):
            reason = {
                sig.Declined: "declined",
                sig.Busy: "busy",
                sig.Unavailable: "unavailable",
                sig.Cancelled: "cancelled",
            }.get(type(m), getattr(m, "reason", "hangup"))
            await self._ended(reason)
        elif isinstance(m, sig.Error):
            self.listener(CallEvent("error", call_id=self.call_id, reason=m.code))
            if self.phase is CallPhase.calling:
                await self._ended(m.code)

    # ---- internals ---------------------------------------------------------------------

    def _begin(self, phase: CallPhase, offerer: bool) -> None:
        if self.phase in (CallPhase.calling, CallPhase.incoming, CallPhase.active):
            raise RuntimeError("a call is already in progress")
        self.call_id = uuid.uuid4().hex
        self.offerer, self.is_test_call, self.end_reason = offerer, False, ""
        self._set_phase(phase)

    async def _start_media(self) -> None:
        call_id = self.call_id
        assert call_id is not None
        opened = self.sources()
        video, audio = await opened if inspect.isawaitable(opened) else opened

        async def send_signal(kind: sig.SignalKind, session: int, sdp: str) -> None:
            await self.signaling.send(
                sig.Signal(call_id=call_id, session=session, kind=kind, sdp=sdp)
            )

        def on_media(event: MediaEvent) -> None:
            self.listener(CallEvent("media", call_id=call_id, media=event))
            if (
                event.kind == "state"
                and event.state is MediaState.ended
                and event.reason == "peer_lost"
            ):
                asyncio.get_running_loop().create_task(self._peer_lost())

        self.media = MediaSession(
            offerer=self.offerer,
            send_signal=send_signal,
            video_source=video,
            audio_source=audio,
            # TURN credentials are minted per call by the hub (they expire with it).
            config=replace(self.media_config, ice_servers=self._call_ice)
            if self._call_ice
            else self.media_config,
            listener=on_media,
            author=self.author,
            remote_slot=self.remote_slot,
            preview_slot=self.preview_slot,
        )
        self._set_phase(CallPhase.active)
        await self.media.start()

    async def _peer_lost(self) -> None:
        if self.call_id and self.phase is CallPhase.active:
            await self.signaling.send(sig.Hangup(call_id=self.call_id, reason="peer_lost"))
            await self._ended("peer_lost")

    def _ended(self, reason: str) -> Awaitable[None]:
        """Mark the call ended at once; the returned awaitable closes the media."""
        if self.phase is CallPhase.ended:
            return asyncio.sleep(0)
        self.end_reason = reason
        media, self.media = self.media, None
        self._set_phase(CallPhase.ended, reason)
        return media.close(reason) if media is not None else asyncio.sleep(0)

    def _set_phase(self, phase: CallPhase, reason: str = "") -> None:
        self.phase = phase
        self.listener(CallEvent("phase", call_id=self.call_id or "", phase=phase, reason=reason))
