"""The media side of one call: peer connections, adaptation, reconnection, chat.

``MediaSession`` lives entirely on the asyncio thread (``app.tasks.async_loop()``): every
aiortc object is created and used there (aiortc issues #563, #1116). It talks to the far end
only through ``send_signal(kind, session, sdp)`` and ``handle_signal(...)``, so the same code
runs over the hub's WebSocket, an in-memory pair in tests, or (later) towards an SFU.

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
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame

from app.media.arrival import ArrivalMeter, LinkFeedback, watch_arrivals
from app.media.ice_consent import use_patient_consent_checks
from app.media.ladder import AUDIO_ONLY, LADDER, LadderController
from app.media.lowband import (
    SendControl,
    install_encoders,
    install_receive_buffers,
    set_hole_timing,
)
from app.media.outgoing import OutgoingAudioTrack, OutgoingVideoTrack
from app.media.playback import SpeakerOutput, SpeakerUnavailable, open_speaker, push_frame
from app.media.quality import quality_bars
from app.media.receive import TrackDrain
from app.media.slots import LatestFrameSlot
from app.media.stats import CallStats, StatsReader
from app.protocol.datachannel import (
    DATACHANNEL_LABEL,
    ChatMessage,
    DataChannelError,
    MediaFeedback,
    VideoPaused,
    VideoResumed,
    encode_message,
    parse_message,
)
from app.protocol.signaling import IceServer

log = logging.getLogger(__name__)

SendSignal = Callable[[str, int, str], Awaitable[None]]


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
    start_rung: int = 4  # 160×120@5: start low, climb on evidence (see ladder.py)
    audio_only: bool = False
    sdp_rewriter: Callable[[str], str] | None = None  # tests: route media via the emulator
    stats_every_s: float = 1.0
    play_audio: bool = False  # the app: True (received audio to the speaker)
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


class _PeerGeneration:
    """One peer connection and what hangs off it."""

    def __init__(self, session: int, pc: RTCPeerConnection) -> None:
        self.session = session
        self.pc = pc
        self.started = time.monotonic()
        self.drains: list[TrackDrain] = []
        self.channel: Any = None
        self.video_out: OutgoingVideoTrack | None = None
        self.audio_out: OutgoingAudioTrack | None = None
        self.stats_reader = StatsReader()
        self.arrivals = ArrivalMeter()

    def last_media_at(self) -> float | None:
        times = [t for d in self.drains for t in (d.audio.last_at, d.video.last_at) if t]
        return max(times) if times else None


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
        self.video_tap = video_tap
        self.control = SendControl()
        self.ladder = LadderController(start_rung=self.config.start_rung)
        self._far_feedback: tuple[float, LinkFeedback] | None = None  # (received at, what)
        self.ladder.forced_audio_only = self.config.audio_only
        self.state = MediaState.connecting
        self.state_since = time.monotonic()
        self.muted = False
        self.camera_on = video_source is not None
        self.remote_video_paused: str | None = None
        self.stats = CallStats()
        self.session = 0
        self.generation: _PeerGeneration | None = None
        self.chat_log: deque[ChatMessage] = deque(maxlen=500)
        self._unsent_chat: deque[ChatMessage] = deque(maxlen=50)
        self._last_attempt = 0.0
        self._ever_connected = False
        self._lock = asyncio.Lock()
        self._watch_task: asyncio.Task[None] | None = None
        self.first_media_after: dict[int, float] = {}  # session -> seconds to first frame
        self._loss_free_since: float | None = None
        self._loss_in = 0.0  # smoothed loss of what we receive
        self._clean_in_since: float | None = None
        self.speaker: SpeakerOutput | None = None
        self.speaker_problem: str | None = None  # "no_speaker" when nothing can play
        self._speaker_task: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Begin: the offerer negotiates session 1; the answerer waits for its offer."""
        self._watch_task = asyncio.get_running_loop().create_task(self._watch())
        if self.config.play_audio:  # in parallel: negotiation need not wait for the driver
            self._speaker_task = asyncio.get_running_loop().create_task(self._open_speaker())
        if self.offerer:
            await self._new_offer()

    async def close(self, reason: str = "hangup") -> None:
        """End the media for good (sources stopped, peer connection closed)."""
        if self.state is MediaState.ended:
            return
        self._set_state(MediaState.ended, reason)
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        await self._drop_generation()
        if self._speaker_task is not None:
            with contextlib.suppress(Exception):
                await self._speaker_task
        if self.speaker is not None:
            self.speaker.close()
            self.speaker = None
        for source in (self.video_source, self.audio_source):
            if source is not None:
                source.stop()

    async def _open_speaker(self) -> None:
        """Open the speaker off the loop (a driver may take a while); without one the call
        goes on and the window says so."""
        try:
            self.speaker = await asyncio.to_thread(open_speaker, self.config.speaker_device)
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
            if kind == "offer" and not self.offerer and session >= self.session:
                await self._answer(session, sdp)
            elif (
                kind == "answer"
                and self.offerer
                and self.generation is not None
                and session == self.generation.session
            ):
                pc = self.generation.pc
                if pc.signalingState == "have-local-offer":
                    await pc.setRemoteDescription(
                        RTCSessionDescription(self._rewrite(sdp), "answer")
                    )
            elif (
                kind == "restart"
                and self.offerer
                and self.config.reconnect
                and session >= self.session
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
        gen = await self._new_generation(self.session + 1)
        await gen.pc.setLocalDescription(await gen.pc.createOffer())
        await self._send_signal("offer", gen.session, gen.pc.localDescription.sdp)

    async def _answer(self, session: int, sdp: str) -> None:
        self._last_attempt = time.monotonic()
        gen = await self._new_generation(session, remote_offer=self._rewrite(sdp))
        await gen.pc.setLocalDescription(await gen.pc.createAnswer())
        await self._send_signal("answer", gen.session, gen.pc.localDescription.sdp)

    # ---- peer connections --------------------------------------------------------------

    async def _drop_generation(self) -> None:
        gen, self.generation = self.generation, None
        if gen is None:
            return
        for drain in gen.drains:
            await drain.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(gen.pc.close(), 5)

    def _configuration(self) -> RTCConfiguration:
        servers = [
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in self.config.ice_servers
        ]
        return RTCConfiguration(iceServers=servers)

    async def _new_generation(
        self, session: int, remote_offer: str | None = None
    ) -> _PeerGeneration:
        # The old connection must be closed first: its sender would otherwise keep reading
        # the same sources and steal half of their frames.
        await self._drop_generation()
        self.session = session
        pc = RTCPeerConnection(self._configuration())
        gen = _PeerGeneration(session, pc)
        self.generation = gen
        lowband = self.config.lowband
        audio = OutgoingAudioTrack(self.audio_source) if self.audio_source else None
        if audio is not None:
            audio.muted = self.muted
        video = None
        if self.video_source is not None:
            rung = LADDER[self.ladder.rung] if lowband else None
            video = OutgoingVideoTrack(self.video_source, rung, self.preview_slot, self.video_tap)
            video.camera_on = self.camera_on
        gen.audio_out, gen.video_out = audio, video

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            slot = self.remote_slot if track.kind == "video" else None
            gen.drains.append(TrackDrain(track, slot, self._frame_hook(gen)))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            log.info("session %d: connection %s", gen.session, pc.connectionState)

        channel = pc.createDataChannel(DATACHANNEL_LABEL, negotiated=True, id=0)
        gen.channel = channel

        @channel.on("message")
        def on_message(raw: str | bytes) -> None:
            self._on_data(raw)

        @channel.on("open")
        def on_open() -> None:
            self._flush_chat(gen)
            if video is not None and video.paused:
                self._send_data(VideoPaused(reason=self._pause_reason()))

        if remote_offer is None:
            senders = self._add_tracks_as_offerer(pc, audio, video)
        else:
            await pc.setRemoteDescription(RTCSessionDescription(remote_offer, "offer"))
            senders = (pc.addTrack(audio) if audio else None, pc.addTrack(video) if video else None)
            # Media we do not send is still received: addTrack reused the offered
            # transceivers; kinds without a local source stay recvonly.
        if lowband:
            use_patient_consent_checks()  # a > 0.5 s round trip must not end the call
            install_encoders(senders[0], senders[1], self.control)
            for tx in pc.getTransceivers():
                install_receive_buffers(tx.receiver, tx.kind)
                watch_arrivals(tx.receiver, tx.kind, gen.arrivals)
        return gen

    def _add_tracks_as_offerer(
        self, pc: RTCPeerConnection, audio: MediaStreamTrack | None, video: MediaStreamTrack | None
    ) -> tuple[RTCRtpSender | None, RTCRtpSender | None]:
        result: list[RTCRtpSender | None] = []
        for kind, track, codec in (("audio", audio, "audio/opus"), ("video", video, "video/vp8")):
            tx = pc.addTransceiver(
                track if track is not None else kind,
                direction="sendrecv" if track is not None else "recvonly",
            )
            caps = RTCRtpSender.getCapabilities(kind).codecs
            tx.setCodecPreferences(
                [c for c in caps if c.mimeType.lower() in (codec, f"{kind}/rtx")]
            )
            result.append(tx.sender if track is not None else None)
        return result[0], result[1]

    def _frame_hook(self, gen: _PeerGeneration) -> Callable[[object, float], None]:
        def hook(frame: object, now: float) -> None:
            if gen.session not in self.first_media_after:
                self.first_media_after[gen.session] = now - gen.started
            if self.state is not MediaState.connected and gen is self.generation:
                self._ever_connected = True
                self._set_state(MediaState.connected)
            if self.speaker is not None and isinstance(frame, AudioFrame):
                push_frame(self.speaker.buffer, frame)
            if self.on_remote_frame is not None:
                self.on_remote_frame(frame, now)

        return hook

    # ---- watchdog, stats and adaptation ------------------------------------------------

    async def _watch(self) -> None:
        next_stats = time.monotonic()
        while True:
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
        report = await gen.pc.getStats()
        stats = CallStats(at=now, session=gen.session)
        gen.stats_reader.read(report, now, stats)
        for drain in gen.drains:
            if drain.track.kind == "video":
                stats.recv_size, stats.recv_fps = drain.video.size, drain.video.fps(now)
                if self.config.lowband:
                    drain.playout.delay_s = self._video_delay(stats)
        if self.config.lowband:
            for tx in gen.pc.getTransceivers():
                if tx.kind == "video":
                    set_hole_timing(tx.receiver, stats.rtt_s)
        video = gen.video_out
        if video is not None:
            stats.send_size = video.size if not video.paused else (0, 0)
        stats.remb_bps = self.control.fresh_remb()
        self._choose_audio_redundancy(now, stats.loss_out)
        if self.config.lowband:
            mine = gen.arrivals.feedback(now)
            stats.queue_in_ms = mine.queue_ms
            self._send_data(MediaFeedback(recv_bps=mine.recv_bps, queue_ms=mine.queue_ms))
        feedback = None
        if self._far_feedback is not None and now - self._far_feedback[0] < 3.0:
            feedback = self._far_feedback[1]
            stats.queue_out_ms = feedback.queue_ms
        if self.config.lowband and video is not None:
            decision = self.ladder.update(
                now,
                stats.remb_bps,
                stats.loss_out,
                stats.rtt_s,
                stats.send_video_bps,
                stats.send_bps,
                feedback,
            )
            self.control.video_bps = max(decision.video_bps, 20_000)
            self.control.audio_bps = decision.audio_bps
            loss_pct = int(round((stats.loss_out or 0) * 100))
            self.control.expected_loss_pct = max(5, min(25, loss_pct + 3))
            self._apply_rung(gen, decision.rung)
            stats.estimate_bps = decision.estimate_bps
            stats.rung = LADDER[decision.rung].name
        elif video is None:
            stats.rung = "audio only"
        else:
            stats.rung = "stock"
        stats.send_fps = self._send_fps(gen, now)
        flowing = self.state is MediaState.connected
        # Bitrate only says something about the link while the far end sends video.
        expects_video = self.remote_video_paused is None and any(
            d.track.kind == "video" and d.video.frames for d in gen.drains
        )
        stats.bars = quality_bars(
            stats.loss_in, stats.rtt_s, stats.recv_bps if expects_video else None, flowing
        )
        self.stats = stats
        self.listener(MediaEvent("stats", stats=stats))

    def _video_delay(self, stats: CallStats) -> float:
        """Hold video one NACK round trip (see receive.py) from the start of a call until
        20 s have passed without loss: the first losses would otherwise freeze video before
        the loss is even measured."""
        if stats.loss_in is not None:
            self._loss_in = 0.8 * self._loss_in + 0.2 * stats.loss_in
            if self._loss_in >= 0.003:
                self._clean_in_since = None
            elif self._clean_in_since is None:
                self._clean_in_since = stats.at
        clean = self._clean_in_since is not None and stats.at - self._clean_in_since > 20.0
        if clean or stats.rtt_s is None:
            return 0.0
        # A retransmission lands ~1 RTT after the original; ~150 ms more is not yet a freeze.
        return max(0.0, stats.rtt_s - 0.05)

    def _choose_audio_redundancy(self, now: float, loss: float | None) -> None:
        """Copy each audio packet into the next one while the link loses packets; stop after
        20 s without loss (a clean link saves ~15 kbit/s), resume at the first loss."""
        if loss is None:
            return
        if loss >= 0.005:
            self._loss_free_since = None
        elif self._loss_free_since is None:
            self._loss_free_since = now
        on = self._loss_free_since is None or now - self._loss_free_since < 20.0
        self.control.audio_redundancy = self.ladder.audio_redundancy = on

    def _send_fps(self, gen: _PeerGeneration, now: float) -> float:
        video = gen.video_out
        if video is None:
            return 0.0
        prev = getattr(gen, "_fps_prev", None)
        gen._fps_prev = (now, video.sent_frames)  # type: ignore[attr-defined]
        if prev is None or now <= prev[0]:
            return 0.0
        return (video.sent_frames - prev[1]) / (now - prev[0])

    def _apply_rung(self, gen: _PeerGeneration, rung_index: int) -> None:
        video = gen.video_out
        if video is None:
            return
        was_paused = video.paused
        video.rung = LADDER[rung_index]
        if video.paused != was_paused:
            self._announce_video(video.paused)

    def _pause_reason(self) -> str:
        if not self.camera_on:
            return "camera_off"
        return "audio_only" if self.ladder.forced_audio_only else "low_bandwidth"

    def _announce_video(self, paused: bool) -> None:
        self._send_data(VideoPaused(reason=self._pause_reason()) if paused else VideoResumed())

    # ---- user switches -----------------------------------------------------------------

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
                self._announce_video(video.paused)

    def set_audio_only(self, on: bool) -> None:
        """The user's switch: force the audio-only rung (or release it)."""
        self.ladder.forced_audio_only = on
        gen = self.generation
        if gen is None or gen.video_out is None:
            return
        if on:
            self.ladder.rung = AUDIO_ONLY
        elif self.ladder.rung == AUDIO_ONLY:
            self.ladder.rung = len(LADDER) - 2  # climb back from the lowest video rung
        if self.config.lowband:
            self._apply_rung(gen, self.ladder.rung)

    # ---- data channel ------------------------------------------------------------------

    def send_chat(self, text: str) -> ChatMessage:
        """Send a chat line (kept and re-sent after a reconnection if the channel is down)."""
        message = ChatMessage(author=self.author, text=text)
        self.chat_log.append(message)
        if not self._send_data(message):
            self._unsent_chat.append(message)
        return message

    def _send_data(self, message: Any) -> bool:
        gen = self.generation
        if gen is None or gen.channel is None or gen.channel.readyState != "open":
            return False
        gen.channel.send(encode_message(message))
        return True

    def _flush_chat(self, gen: _PeerGeneration) -> None:
        while self._unsent_chat and gen.channel.readyState == "open":
            gen.channel.send(encode_message(self._unsent_chat.popleft()))

    def _on_data(self, raw: str | bytes) -> None:
        try:
            message = parse_message(raw)
        except DataChannelError as exc:
            log.warning("ignored data-channel message: %s", exc)
            return
        if isinstance(message, ChatMessage):
            if any(m.id == message.id for m in self.chat_log):
                return  # re-sent after a reconnection
            self.chat_log.append(message)
            self.listener(MediaEvent("chat", chat=message))
        elif isinstance(message, VideoPaused):
            self.remote_video_paused = message.reason
            self.listener(MediaEvent("remote_video", remote_video_paused=message.reason))
        elif isinstance(message, VideoResumed):
            self.remote_video_paused = None
            self.listener(MediaEvent("remote_video", remote_video_paused=None))
        elif isinstance(message, MediaFeedback):
            self._far_feedback = (
                time.monotonic(),
                LinkFeedback(recv_bps=message.recv_bps, queue_ms=message.queue_ms),
            )

    # ---- state -------------------------------------------------------------------------

    def _set_state(self, state: MediaState, reason: str = "") -> None:
        if state is self.state:
            return
        self.state, self.state_since = state, time.monotonic()
        log.info("media %s %s", state.value, reason)
        self.listener(MediaEvent("state", state=state, since=self.state_since, reason=reason))
