"""``CallService``: the GUI's handle on calls. Owns the hub signaling connection and the
``CallController`` on the media loop and re-emits what happens as Qt signals on the GUI
thread. Create it once per sign-in with ``call_service(context)`` so incoming calls ring
whichever page is open.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import QObject, Signal

from app.context import AppContext
from app.media.call import CallController, CallEvent, CallPhase
from app.media.capture import open_sources
from app.media.engine import MediaConfig
from app.media.hub_signaling import HubSignaling
from app.media.slots import LatestFrameSlot
from app.tasks import async_loop
from app.ui.bridge import call_on_gui, run_async

log = logging.getLogger(__name__)


class CallService(QObject):
    """Signals carry ``app.media.call.CallEvent`` payloads."""

    call_event = Signal(object)  # every CallEvent (not "event": that is QObject.event())
    connection = Signal(bool)  # signaling connected / lost
    share_requested = Signal()  # the call window's "Share images": open the case's series

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.remote_slot = LatestFrameSlot()
        self.preview_slot = LatestFrameSlot(max_width=320)
        self.controller: CallController | None = None
        self.signaling: HubSignaling | None = None
        self._starting: object | None = None  # a start() whose _start has not run yet
        self.online = False
        self.notes: list[str] = []
        self.consultation_id = ""  # of the current or ringing call ("" for a test call)
        self.coview: Any = None  # the CoviewSession riding this call (GUI thread)
        self._coview_backlog: list[Any] = []  # co-viewing messages before a session exists
        self.phase = CallPhase.idle  # as the last event told (GUI thread)
        self.call_event.connect(self._remember_consultation)
        self.call_event.connect(self._attach_coview)

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Connect to the hub's signaling (needs a signed-in ``hub_client``). Once: later
        calls, also those made before the connection exists, do nothing."""
        client = self.context.services.get("hub_client")
        if client is None or self._starting is not None or self.signaling is not None:
            return
        # Marked here, on the GUI thread: ``signaling`` is only set once ``_start`` runs on
        # the media loop, and on a loaded PC the Call page and the sign-in both started the
        # service before that — two sockets, every offer and answer delivered twice, the
        # callee answering each offer twice and ICE checking against the replaced peer
        # connection: media never came up (tests/media/test_call_soak.py under stress-ng).
        starting = self._starting = object()
        run_async(self._start(client, starting))

    async def _start(self, client: Any, starting: object) -> None:
        if self._starting is not starting:
            return  # stopped before it ran

        async def token() -> str:
            if self.signaling is not None and self.signaling.refused:
                # Expired access token: one authenticated request refreshes it (shared lock).
                await asyncio.to_thread(client.authed, "GET", "/api/v1/me")
                self.signaling.refused = None
            return client.tokens.access_token if client.tokens else ""

        user = self.context.user
        author = getattr(user, "display_name", "") or getattr(user, "username", "")
        settings = self.context.settings

        async def sources():  # noqa: ANN202
            video, audio, notes = await open_sources(settings)
            self.notes = notes
            return video, audio

        def listener(event: CallEvent) -> None:
            call_on_gui(self.call_event.emit, event)

        def on_connection(up: bool) -> None:
            self.online = up
            call_on_gui(self.connection.emit, up)

        async def on_hub_message(message: BaseModel) -> None:
            controller = self.controller
            if controller is not None:  # None once stop() began
                await controller.on_hub_message(message)

        self.signaling = HubSignaling(
            self.context.hub_url,
            token,
            on_hub_message,
            on_connection,
            # Trusted exactly as sync is: the client's context from the policy's ca_bundle.
            ssl_context=client.ssl_context,
        )
        # Only now: start() on the GUI thread checks both, and never sees neither set.
        self._starting = None
        config = MediaConfig(
            audio_only=bool(settings.get("audio_only", False)),
            play_audio=True,
            speaker_device=str(settings.get("speaker_device", "") or ""),
        )
        self.controller = CallController(
            self.signaling,
            sources,
            listener,
            author=author,
            media_config=config,
            remote_slot=self.remote_slot,
            preview_slot=self.preview_slot,
        )
        self.signaling.start()

    def stop(self) -> None:
        """Hang up and disconnect (sign-out, exit). Safe to call twice."""
        controller, signaling = self.controller, self.signaling
        self.controller = self.signaling = None
        self._starting = None
        if controller is None and signaling is None:
            return

        async def stop() -> None:
            if controller is not None:
                await controller.hangup()
            if signaling is not None:
                await signaling.stop()

        run_async(stop())

    # ---- actions (all return at once; results arrive as events) -------------------------

    def _do(self, name: str, *args: Any) -> None:
        controller = self.controller
        if controller is None:
            return
        result = getattr(controller, name)(*args)
        if asyncio.iscoroutine(result):
            run_async(result)

    def _remember_consultation(self, event: CallEvent) -> None:
        if event.kind == "incoming" and event.incoming is not None:
            self.consultation_id = event.incoming.consultation_id
        if event.kind == "phase" and event.phase is not None:
            self.phase = event.phase
            if event.phase is CallPhase.ended:
                self._coview_backlog = []

    @property
    def in_call_about(self) -> str:
        """The consultation of the call that is up now ("" when none is)."""
        return self.consultation_id if self.phase is CallPhase.active else ""

    def call(self, consultation_id: str, callee_id: str | None = None) -> None:
        self.consultation_id = consultation_id
        self._do("call", consultation_id, callee_id)

    def test_call(self) -> None:
        self.consultation_id = ""
        self._do("test_call")

    def accept(self) -> None:
        self._do("accept")

    def decline(self) -> None:
        self._do("decline")

    def cancel(self) -> None:
        self._do("cancel")

    def hangup(self) -> None:
        self._do("hangup")

    def _media(self, name: str, *args: Any) -> None:
        async def apply() -> None:
            media = self.controller.media if self.controller else None
            if media is not None:
                getattr(media, name)(*args)

        run_async(apply())

    # ---- co-viewing: the session lives on the GUI thread, its messages on the media loop --

    def use_coview(self, session: Any) -> None:
        """Carry ``session``'s messages over this call's data channel (see docs/coview.md).
        Messages that arrived before (the other side shared while ours was being set up)
        are handed to it now, in order."""
        self.coview = session
        session.send = self._send_coview
        backlog, self._coview_backlog = self._coview_backlog, []
        for message in backlog:
            session.receive(message)
        self._attach_coview(None)

    def drop_coview(self, session: Any) -> None:
        """``session`` is finished (the call ended): nothing more reaches it."""
        if self.coview is session:
            self.coview = None
            self._coview_backlog = []

    def _coview_in(self, message: Any) -> None:
        if self.coview is not None:
            self.coview.receive(message)
        elif len(self._coview_backlog) < 500:
            self._coview_backlog.append(message)

    def _coview_reopened(self) -> None:
        if self.coview is not None:
            self.coview.resync()

    def _attach_coview(self, _event: CallEvent | None) -> None:
        async def attach() -> None:
            media = self.controller.media if self.controller else None
            if media is None or media.messaging.on_coview is not None:
                return
            media.messaging.on_coview = lambda m: call_on_gui(self._coview_in, m)
            media.messaging.on_reopen = lambda: call_on_gui(self._coview_reopened)

        run_async(attach())

    def _send_coview(self, message: Any) -> bool:
        media = self.controller.media if self.controller else None
        channel = media.messaging.channel if media is not None else None
        if media is None or channel is None or channel.readyState != "open":
            return False  # resync() re-sends everything once the channel is back
        async_loop().loop.call_soon_threadsafe(media.messaging.send, message)
        return True

    def send_chat(self, text: str) -> None:
        self._media("send_chat", text)

    def set_muted(self, muted: bool) -> None:
        self._media("set_muted", muted)

    def set_camera(self, on: bool) -> None:
        self._media("set_camera", on)

    def set_audio_only(self, on: bool) -> None:
        self._media("set_audio_only", on)


def call_service(context: AppContext) -> CallService:
    """The one ``CallService`` of this session (created and started on first use)."""
    service = context.services.get("calls")
    if service is None:
        service = context.services["calls"] = CallService(context)
    service.start()
    return service
