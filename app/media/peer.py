"""Peer-connection lifecycle: one ``PeerGeneration`` per negotiated session.

aiortc has no ICE restart (#211), so a reconnection is a brand-new ``RTCPeerConnection``
(session n+1) over the same sources and display slots. ``PeerLifecycle`` builds one — the
outgoing tracks wrapped for the ladder and the user's switches, the negotiated data
channel, the remote-track drains, and on the low-band path our encoders, receive buffers,
consent checks and arrival meter — and tears the previous one down first (its sender would
otherwise keep reading the same sources and steal half their frames). Media loop only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from app.media import aiortc_adapter as adapter
from app.media.arrival import ArrivalMeter, watch_arrivals
from app.media.ice_consent import use_patient_consent_checks
from app.media.ladder import Rung
from app.media.lipsync import LipSync, watch_lip_sync
from app.media.loop_lag import LoopLag
from app.media.lowband import SendControl, install_encoders, install_receive_buffers
from app.media.outgoing import OutgoingAudioTrack, OutgoingVideoTrack
from app.media.receive import TrackDrain
from app.media.slots import LatestFrameSlot
from app.media.stats import StatsReader
from app.protocol.datachannel import DATACHANNEL_LABEL
from app.protocol.signaling import IceServer
from app.tasks import wait_ended

log = logging.getLogger(__name__)

FrameHook = Callable[[object, float], None]

PC_CLOSE_S = 5.0  # aiortc's close: senders, receivers, DTLS and ICE transports


class PeerClosed(RuntimeError):
    """A new peer connection was asked for after the call's media was closed."""


class PeerGeneration:
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
        self.loop_lag = LoopLag()  # ticks on the media loop for low-band calls
        self.arrivals = ArrivalMeter(self.loop_lag)
        self.lipsync = LipSync()
        self.fps_mark: tuple[float, int] | None = None  # (when, frames sent then)

    def last_media_at(self) -> float | None:
        times = [t for d in self.drains for t in (d.audio.last_at, d.video.last_at) if t]
        return max(times) if times else None


class PeerLifecycle:
    """Creates and closes the peer connections of one call."""

    def __init__(
        self,
        *,
        lowband: bool,
        ice_servers: list[IceServer],
        video_source: MediaStreamTrack | None,
        audio_source: MediaStreamTrack | None,
        remote_slot: LatestFrameSlot,
        preview_slot: LatestFrameSlot | None,
        control: SendControl,
        video_tap: Callable[[Any], None] | None = None,
        align_reports: bool = True,
    ) -> None:
        self.lowband = lowband
        self.align_reports = align_reports
        self.ice_servers = ice_servers
        self.video_source = video_source
        self.audio_source = audio_source
        self.remote_slot = remote_slot
        self.preview_slot = preview_slot
        self.control = control
        self.video_tap = video_tap
        self.generation: PeerGeneration | None = None
        self.closed = False
        self._closing: set[asyncio.Task[None]] = set()  # pc.close() still running

    def _configuration(self) -> RTCConfiguration:
        servers = [
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in self.ice_servers
        ]
        return RTCConfiguration(iceServers=servers)

    async def drop(self) -> None:
        """Close the current peer connection (its drains first), bounded: what does not
        finish in time is logged with where it waits and left to finish on its own."""
        gen, self.generation = self.generation, None
        if gen is None:
            return
        gen.loop_lag.stop()
        for drain in gen.drains:
            await drain.stop()
        # Not wait_for: on its timeout it cancels pc.close() and then waits, unbounded, for
        # it to end (aioice's close catches the CancelledError and goes on); and a close cut
        # short leaves aiortc's "closed" future unresolved, so any later close() hangs.
        closing = asyncio.get_running_loop().create_task(gen.pc.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        await wait_ended(closing, PC_CLOSE_S, f"closing peer connection {gen.session}")

    async def close(self) -> None:
        """Close the current peer connection for good: ``open`` refuses from now on."""
        self.closed = True
        await self.drop()

    async def open(
        self,
        session: int,
        *,
        remote_offer: str | None,
        rung: Rung | None,
        muted: bool,
        camera_on: bool,
        frame_hook: Callable[[PeerGeneration], FrameHook],
        on_message: Callable[[str | bytes], None],
        on_open: Callable[[PeerGeneration], None],
    ) -> PeerGeneration:
        """A new peer connection for ``session`` (answering ``remote_offer`` if given).

        Raises ``PeerClosed`` once ``close`` was called (also while this was waiting)."""
        await self.drop()
        if self.closed:  # hung up while the previous connection was closing
            raise PeerClosed(f"session {session}: the call's media is closed")
        pc = RTCPeerConnection(self._configuration())
        gen = PeerGeneration(session, pc)
        self.generation = gen
        audio = OutgoingAudioTrack(self.audio_source) if self.audio_source else None
        if audio is not None:
            audio.muted = muted
        video = None
        if self.video_source is not None:
            video = OutgoingVideoTrack(
                self.video_source, rung if self.lowband else None, self.preview_slot, self.video_tap
            )
            video.camera_on = camera_on
        gen.audio_out, gen.video_out = audio, video
        hook = frame_hook(gen)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            slot = self.remote_slot if track.kind == "video" else None
            gen.drains.append(TrackDrain(track, slot, hook, gen.lipsync))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            log.info("session %d: connection %s", gen.session, pc.connectionState)

        channel = pc.createDataChannel(DATACHANNEL_LABEL, negotiated=True, id=0)
        gen.channel = channel
        channel.on("message", on_message)
        channel.on("open", lambda: on_open(gen))

        if remote_offer is None:
            senders = _add_tracks_as_offerer(pc, audio, video)
        else:
            await pc.setRemoteDescription(RTCSessionDescription(remote_offer, "offer"))
            if self.closed:  # closed (this pc with it) while the offer was applied
                raise PeerClosed(f"session {session}: the call's media is closed")
            senders = (pc.addTrack(audio) if audio else None, pc.addTrack(video) if video else None)
            # Media we do not send is still received: addTrack reused the offered
            # transceivers; kinds without a local source stay recvonly.
        if not self.lowband:
            gen.lipsync.max_audio_delay_s = 0.0  # stock aiortc: measured, not corrected
        for tx in pc.getTransceivers():
            watch_lip_sync(tx.receiver, tx.kind, gen.lipsync)
        if self.lowband:
            use_patient_consent_checks()  # a > 0.5 s round trip must not end the call
            adapter.fix_sctp_init_tag()  # a lossy start must not leave the call without chat
            gen.loop_lag.start()
            install_encoders(senders[0], senders[1], self.control, self.align_reports)
            for tx in pc.getTransceivers():
                install_receive_buffers(tx.receiver, tx.kind)
                watch_arrivals(tx.receiver, tx.kind, gen.arrivals)
        return gen


def _add_tracks_as_offerer(
    pc: RTCPeerConnection, audio: MediaStreamTrack | None, video: MediaStreamTrack | None
) -> tuple[RTCRtpSender | None, RTCRtpSender | None]:
    result: list[RTCRtpSender | None] = []
    for kind, track, codec in (("audio", audio, "audio/opus"), ("video", video, "video/vp8")):
        tx = pc.addTransceiver(
            track if track is not None else kind,
            direction="sendrecv" if track is not None else "recvonly",
        )
        caps = RTCRtpSender.getCapabilities(kind).codecs
        tx.setCodecPreferences([c for c in caps if c.mimeType.lower() in (codec, f"{kind}/rtx")])
        result.append(tx.sender if track is not None else None)
    return result[0], result[1]
