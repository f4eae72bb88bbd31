"""The media side of one call: who does what, and the reconnection watchdog.

``MediaSession`` lives entirely on the asyncio thread (``app.tasks.async_loop()``): every
aiortc object is created and used there (aiortc issues #563, #1116). It talks to the far end
only through ``send_signal(kind, session, sdp)`` and ``handle_signal(...)``, so the same code
runs over the hub's WebSocket, an in-memory pair in tests, or (later) towards an SFU.

A call is three parts, each in its own module, joined here:

- ``app.media.peer.PeerLifecycle``: the peer connection of the current session (tracks,
  data channel, drains, the low-band pieces inside aiortc);
- ``app.media.adaptation.CallAdaptation``: once a second, stats → ladder → what we send,
  and the receive side's playout delay;
- ``app.media.messaging.CallMessaging``: chat and ``media.*`` messages on the data channel.

Reconnection (aiortc has no ICE restart, #211): when no media has arrived for
``dead_after_s`` the session goes to ``reconnecting`` and negotiates a brand-new peer
connection with the next ``session`` number: the offerer (the caller) sends a new offer,
the answerer asks for one with a ``restart`` signal. Attempts repeat every
``retry_every_s`` until media flows again or ``give_up_after_s`` passes. Sources (camera,
microphone) and the display slots survive, so the call window stays as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiortc import InvalidStateError, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame

from app.media.adaptation import CallAdaptation
from app.media.ladder import LADDER, START_RUNG, LadderController
from app.media.lowband import SendControl
from app.media.messaging import CallMessaging
from app.media.peer import PeerClosed, PeerGeneration, PeerLifecycle
from app.media.playback import SpeakerOutput, SpeakerUnavailable, open_speaker, push_frame
from app.media.slots import LatestFrameSlot
from app.media.stats import CallStats
from app.media.video_parity import PARITY_VERSION, Grouping
from app.protocol.datachannel import ChatMessage, MediaRepair, PauseReason, VideoPaused
from app.protocol.signaling import IceServer, SignalKind
from app.tasks import stop_task, wait_ended

log = logging.getLogger(__name__)

SendSignal = Callable[[SignalKind, int, str], Awaitable[None]]

WATCHDOG_STOP_S = 2.0  # its steps await aiortc (a reconnection builds a peer connection)
SPEAKER_OPEN_S = 2.0  # a driver still opening the device is not waited for longer


class MediaState(StrEnum):
    """Where the media path is."""

    connecting = "connecting"
    connected = "connected"
    reconnecting = "reconnecting"
    ended = "ended"


@dataclass
class MediaConfig:
    """Tunables of a session (defaults are the product's)."""

    lowband: bool = True  # False: stock aiortc (benchmark baseline)
    reconnect: bool = True  # False: stock aiortc behaviour (no new peer connection)
    ice_servers: list[IceServer] = field(default_factory=list)
    dead_after_s: float = 4.0
    retry_every_s: float = 5.0
    give_up_after_s: float = 90.0
    start_rung: int = START_RUNG  # 160×120@5: start low, climb on evidence (see ladder.py)
    audio_only: bool = False
    sdp_rewriter: Callable[[str], str] | None = None  # tests: route media via the emulator
    stats_every_s: float = 1.0
    play_audio: bool = False  # the app: True (received audio to the speaker)
    # Audio sender reports paired with capture time (lowband.install_encoders). It was off
    # while the soak's failures under load were blamed on it; the cause was two hub
    # sockets delivering every signal twice (docs/calls.md, "Sender reports").
    align_reports: bool = True
    # Offer and (when the far end offers it too) send XOR parity for video (low-band only).
    video_parity: bool = True
    # Parity groups at 12 fps and more toward a peer that decodes the second parity Q (e.g.
    # WIDE_PQ_GROUPS); None: app.media.video_parity.WIDE_GROUPS_FOR_Q_PEERS.
    q_peer_wide_groups: Grouping | None = None
    speaker_device: str = ""  # ``speaker_device`` setting; empty or gone: the default output


@dataclass
class MediaEvent:
    """Something the call window should know; ``kind`` says which fields matter."""

    kind: str  # state | stats | chat | remote_video | speaker | error
    state: MediaState | None = None
    since: float | None = None  # monotonic time the state began (reconnecting … 7 s)
    stats: CallStats | None = None
    chat: ChatMessage | None = None
    remote_video_paused: str | None = None  # reason, or None when resumed
    reason: str = ""


Listener = Callable[[MediaEvent], None]


class MediaSession:
    """One call's media. Create and use on the media loop only."""

    def __init__(
        self,
        *,
        offerer: bool,
        send_signal: SendSignal,
        video_source: MediaStreamTrack | None,
        audio_source: MediaStreamTrack | None,
        config: MediaConfig | None = None,
        listener: Listener | None = None,
        author: str = "",
        remote_slot: LatestFrameSlot | None = None,
        preview_slot: LatestFrameSlot | None = None,
        on_remote_frame: Callable[[object, float], None] | None = None,
        video_tap: Callable[[Any], None] | None = None,
    ) -> None:
        self.offerer = offerer
        self.config = config or MediaConfig()
        self._send_signal = send_signal
        self.video_source = video_source
        self.audio_source = audio_source
        self.listener = listener or (lambda event: None)
        self.author = author
        self.remote_slot = remote_slot or LatestFrameSlot()
        self.preview_slot = preview_slot
        self.on_remote_frame = on_remote_frame
        self.messaging = CallMessaging(
            author,
            on_chat=lambda m: self.listener(MediaEvent("chat", chat=m)),
            on_remote_video=lambda reason: self.listener(
                MediaEvent("remote_video", remote_video_paused=reason)
            ),
        )
        self.adaptation = CallAdaptation(
            lowband=self.config.lowband,
            start_rung=self.config.start_rung,
            audio_only=self.config.audio_only,
            messaging=self.messaging,
            pause_reason=self._pause_reason,
        )
        if self.config.lowband and self.config.video_parity:
            self.messaging.repairs_offered = MediaRepair(
                video_parity=True, parity_version=PARITY_VERSION
            )
            self.messaging.on_far_repair = self._on_far_repair
        if self.config.q_peer_wide_groups is not None:
            self.adaptation.control.q_peer_wide_groups = self.config.q_peer_wide_groups
        self.peers = PeerLifecycle(
            lowband=self.config.lowband,
            align_reports=self.config.align_reports,
            ice_servers=self.config.ice_servers,
            video_source=video_source,
            audio_source=audio_source,
            remote_slot=self.remote_slot,
            preview_slot=preview_slot,
            control=self.adaptation.control,
            video_tap=video_tap,
        )
        self.state = MediaState.connecting
        self.state_since = time.monotonic()
        self.muted = False
        self.camera_on = video_source is not None
        self.stats = CallStats()
        self.session = 0
        self._last_attempt = 0.0
        self._lock = asyncio.Lock()
        self._watch_task: asyncio.Task[None] | None = None
        self.first_media_after: dict[int, float] = {}  # session -> seconds to first frame
        self.speaker: SpeakerOutput | None = None
        self.speaker_problem: str | None = None  # "no_speaker" when nothing can play
        self._speaker_task: asyncio.Task[None] | None = None
        self._release: asyncio.Task[None] | None = None  # close()'s work, once started

    # ---- the parts, as the rest of the app and the tests see them -----------------------

    @property
    def generation(self) -> PeerGeneration | None:
        """The current peer connection and what hangs off it."""
        return self.peers.generation

    @property
    def control(self) -> SendControl:
        return self.adaptation.control

    @property
    def ladder(self) -> LadderController:
        return self.adaptation.ladder

    @property
    def chat_log(self) -> Any:
        return self.messaging.chat_log

    @property
    def remote_video_paused(self) -> str | None:
        return self.messaging.remote_video_paused

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Begin: the offerer negotiates session 1; the answerer waits for its offer."""
        self._watch_task = asyncio.get_running_loop().create_task(self._watch())
        if self.config.play_audio:  # in parallel: negotiation need not wait for the driver
            self._speaker_task = asyncio.get_running_loop().create_task(self._open_speaker())
        if self.offerer:
            await self._new_offer()

    async def close(self, reason: str = "hangup") -> None:
        """End the media for good (sources stopped, peer connection closed).

        The release runs as a task of its own: a close() cancelled part-way (the window
        closing while it hangs up) leaves it running, and any later close() waits for it."""
        if self._release is None:
            self._set_state(MediaState.ended, reason)
            closer = asyncio.current_task()
            self._release = asyncio.get_running_loop().create_task(self._release_all(closer))
        await asyncio.shield(self._release)

    async def _release_all(self, closer: asyncio.Task[Any] | None) -> None:
        # Every wait bounded and none able to swallow a cancellation (app.tasks.wait_ended):
        # a hang-up must end the call even if a step of aiortc's does not finish. Closed by
        # the watchdog itself (peer lost), its loop ends by seeing the state.
        if closer is not self._watch_task:
            await stop_task(self._watch_task, WATCHDOG_STOP_S, "the media watchdog")
        await self.peers.close()
        if self._speaker_task is not None:
            await wait_ended(self._speaker_task, SPEAKER_OPEN_S, "opening the speaker")
        if self.speaker is not None:
            self.speaker.close()
            self.speaker = None
        for source in (self.video_source, self.audio_source):
            if source is not None:
                source.stop()

    def _speaker_backlog_s(self) -> float:
        """How long audio pushed to the speaker now waits before it is played."""
        return self.speaker.buffer.buffered_ms / 1000 if self.speaker is not None else 0.0

    async def _open_speaker(self) -> None:
        """Open the speaker off the loop (a driver may take a while); without one the call
        goes on and the window says so."""
        try:
            speaker = await asyncio.to_thread(open_speaker, self.config.speaker_device)
            if self.state is MediaState.ended:  # hung up while the driver was opening it
                speaker.close()
            else:
                self.speaker = speaker
        except SpeakerUnavailable as exc:
            log.info("no sound output: %s", exc)
            self.speaker_problem = "no_speaker"
            self.listener(MediaEvent("speaker", reason="no_speaker"))

    # ---- signaling ---------------------------------------------------------------------

    async def handle_signal(self, kind: str, session: int, sdp: str) -> None:
        """An offer, answer or restart request from the far end."""
        if self.state is MediaState.ended:
            return
        async with self._lock:
            with self._unless_closed():
                await self._handle_signal_locked(kind, session, sdp)

    async def _handle_signal_locked(self, kind: str, session: int, sdp: str) -> None:
        gen = self.generation
        log.info("signal %s for session %d (ours %d)", kind, session, self.session)
        if kind == "offer" and not self.offerer and (session > self.session or gen is None):
            # An offer for the session already answered is a duplicate (two sockets of one
            # app, a relay repeating itself): answering it again replaced the peer
            # connection the far end was already checking ICE against.
            await self._answer(session, sdp)
        elif kind == "answer" and self.offerer and gen is not None and session == gen.session:
            if gen.pc.signalingState == "have-local-offer":
                await gen.pc.setRemoteDescription(
                    RTCSessionDescription(self._rewrite(sdp), "answer")
                )
        elif (
            kind == "restart" and self.offerer and self.config.reconnect and session >= self.session
        ):
            # The answerer lost media; negotiate unless we just did.
            if time.monotonic() - self._last_attempt > 1.5:
                await self._new_offer_locked()

    def _rewrite(self, sdp: str) -> str:
        return self.config.sdp_rewriter(sdp) if self.config.sdp_rewriter else sdp

    async def _new_offer(self) -> None:
        async with self._lock:
            await self._new_offer_locked()

    async def _new_offer_locked(self) -> None:
        self._last_attempt = time.monotonic()
        with self._unless_closed():
            gen = await self._new_generation(self.session + 1)
            await gen.pc.setLocalDescription(await gen.pc.createOffer())
            if self.state is not MediaState.ended:
                await self._send_signal("offer", gen.session, gen.pc.localDescription.sdp)

    async def _answer(self, session: int, sdp: str) -> None:
        self._last_attempt = time.monotonic()
        with self._unless_closed():
            gen = await self._new_generation(session, remote_offer=self._rewrite(sdp))
            await gen.pc.setLocalDescription(await gen.pc.createAnswer())
            if self.state is not MediaState.ended:
                await self._send_signal("answer", gen.session, gen.pc.localDescription.sdp)

    @contextlib.contextmanager
    def _unless_closed(self) -> Iterator[None]:
        """A negotiation that the hang-up overtook stops quietly: ``close`` closed its peer
        connection (or refused to open one) and aiortc raises on the closed one."""
        try:
            yield
        except (PeerClosed, InvalidStateError):
            if self.state is not MediaState.ended:
                raise
            log.info("negotiation of session %d stopped: the call was closed", self.session)

    async def _new_generation(
        self, session: int, remote_offer: str | None = None
    ) -> PeerGeneration:
        self.session = session
        gen = await self.peers.open(
            session,
            remote_offer=remote_offer,
            rung=LADDER[self.ladder.rung],
            muted=self.muted,
            camera_on=self.camera_on,
            frame_hook=self._frame_hook,
            on_message=self.messaging.on_data,
            on_open=self._on_channel_open,
        )
        self.messaging.attach(gen.channel)
        gen.lipsync.audio_output_s = self._speaker_backlog_s
        return gen

    def _on_far_repair(self, repair: MediaRepair) -> None:
        """The far end said what it repairs: send video parity only to one that uses it."""
        control = self.adaptation.control
        control.video_parity = repair.video_parity
        # An older peer's offer has no version (1): its decoder takes a Q packet for a
        # malformed P and drops it, so it gets none.
        control.video_parity_q = repair.video_parity and repair.parity_version >= 2

    def _on_channel_open(self, gen: PeerGeneration) -> None:
        self.messaging.on_open(gen.channel)
        video = gen.video_out
        if video is not None and video.paused:
            self.messaging.send(VideoPaused(reason=self._pause_reason()))

    def _frame_hook(self, gen: PeerGeneration) -> Callable[[object, float], None]:
        def hook(frame: object, now: float) -> None:
            if gen.session not in self.first_media_after:
                self.first_media_after[gen.session] = now - gen.started
            if self.state is not MediaState.connected and gen is self.generation:
                self._set_state(MediaState.connected)
            if self.speaker is not None and isinstance(frame, AudioFrame):
                push_frame(self.speaker.buffer, frame)
            if self.on_remote_frame is not None:
                self.on_remote_frame(frame, now)

        return hook

    # ---- watchdog: reconnection and the once-a-second adaptation ------------------------

    async def _watch(self) -> None:
        next_stats = time.monotonic()
        while self.state is not MediaState.ended:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            try:
                await self._check_path(now)
                if now >= next_stats:
                    next_stats = now + self.config.stats_every_s
                    await self._collect_stats(now)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the watchdog must survive a bad stats read
                log.exception("media watchdog step failed")

    async def _check_path(self, now: float) -> None:
        gen = self.generation
        last = gen.last_media_at() if gen else None
        if self.state is MediaState.connected:
            if last is None or now - last > self.config.dead_after_s:
                self._set_state(MediaState.reconnecting)
                await self._reconnect(now)
        elif self.state in (MediaState.reconnecting, MediaState.connecting):
            limit = self.config.give_up_after_s
            if self.state is MediaState.reconnecting and now - self.state_since > limit:
                self.listener(MediaEvent("error", reason="peer_lost"))
                await self.close("peer_lost")
                return
            # Retry when the current attempt has produced nothing for a while.
            if now - self._last_attempt > self.config.retry_every_s and (
                self.state is MediaState.reconnecting or self.session > 0
            ):
                await self._reconnect(now)

    async def _reconnect(self, now: float) -> None:
        if not self.config.reconnect:
            return
        if self.offerer:
            await self._new_offer()
        else:
            self._last_attempt = now
            await self._send_signal("restart", self.session + 1, "")

    async def _collect_stats(self, now: float) -> None:
        gen = self.generation
        if gen is None:
            return
        self.stats = await self.adaptation.step(gen, now, self.state is MediaState.connected)
        self.listener(MediaEvent("stats", stats=self.stats))

    # ---- user switches -----------------------------------------------------------------

    def _pause_reason(self) -> PauseReason:
        if not self.camera_on:
            return "camera_off"
        return "audio_only" if self.ladder.forced_audio_only else "low_bandwidth"

    def set_muted(self, muted: bool) -> None:
        """Send silence instead of the microphone."""
        self.muted = muted
        if self.generation and self.generation.audio_out:
            self.generation.audio_out.muted = muted

    def set_camera(self, on: bool) -> None:
        """Stop or resume sending video (the far end is told why)."""
        self.camera_on = on and self.video_source is not None
        video = self.generation.video_out if self.generation else None
        if video is not None:
            was = video.paused
            video.camera_on = self.camera_on
            if self.preview_slot is not None and not self.camera_on:
                self.preview_slot.clear()
            if video.paused != was:
                self.messaging.announce_video(video.paused, self._pause_reason())

    def set_audio_only(self, on: bool) -> None:
        """The user's switch: force the audio-only rung (or release it)."""
        self.adaptation.set_audio_only(self.generation, on)

    def send_chat(self, text: str) -> ChatMessage:
        """Send a chat line (kept and re-sent after a reconnection if the channel is down)."""
        return self.messaging.send_chat(text)

    # ---- state -------------------------------------------------------------------------

    def _set_state(self, state: MediaState, reason: str = "") -> None:
        if state is self.state:
            return
        self.state, self.state_since = state, time.monotonic()
        log.info("media %s %s", state.value, reason)
        self.listener(MediaEvent("state", state=state, since=self.state_since, reason=reason))
