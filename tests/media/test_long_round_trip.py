"""A call over a long round trip keeps its peer connection (ICE consent checks) and its
picture in step with its voice (lip sync from RTCP sender reports)."""

from __future__ import annotations

import asyncio
import collections
import time

import aioice.ice
import pytest

from app.media.engine import MediaConfig, MediaSession, MediaState
from app.media.ice_consent import CONSENT_RETRANSMISSIONS
from app.media.ladder import START_RUNG
from app.media.loopback import use_loopback_candidates
from app.media.sources import SyntheticVideoTrack, ToneAudioTrack
from tests.linkemu.profile import LinkProfile
from tests.linkemu.udp import UdpLinkEmulator
from tests.support.memory_signaling import SignalingPair


def test_a_call_over_an_800_ms_round_trip_is_not_dropped_by_consent_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # aioice waits 0.5 s for each consent answer and closes after six misses: on this link
    # every answer takes 0.8 s. Checks every 0.3 s instead of 5 s make "six misses" 5 s.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.3)
    answered: collections.Counter[int] = collections.Counter()  # per ICE socket: slow answers
    original_request = aioice.ice.StunProtocol.request

    async def counted_request(self, request, addr, integrity_key=None, retransmissions=None):  # noqa: ANN001, ANN202
        reply = await original_request(self, request, addr, integrity_key, retransmissions)
        if retransmissions == CONSENT_RETRANSMISSIONS:  # only consent checks retransmit so
            answered[id(self)] += 1
        return reply

    monkeypatch.setattr(aioice.ice.StunProtocol, "request", counted_request)
    use_loopback_candidates()
    audio_at: list[float] = []
    video_at: list[float] = []

    def on_frame(frame: object, now: float) -> None:
        (video_at if hasattr(frame, "width") else audio_at).append(now)

    async def call() -> tuple[int, MediaState, int]:
        with UdpLinkEmulator(LinkProfile(latency_ms=400, seed=1)) as emu:
            config = MediaConfig(start_rung=START_RUNG, sdp_rewriter=emu.rewrite_sdp)
            pair = SignalingPair(delay_s=0.2)
            a = MediaSession(
                offerer=True,
                send_signal=pair.sender("a"),
                config=config,
                video_source=SyntheticVideoTrack(160, 120, 5),
                audio_source=ToneAudioTrack(),
            )
            b = MediaSession(
                offerer=False,
                send_signal=pair.sender("b"),
                config=config,
                video_source=SyntheticVideoTrack(160, 120, 5),
                audio_source=ToneAudioTrack(),
                on_remote_frame=on_frame,
            )
            pair.sessions.update(a=a, b=b)
            await b.start()
            await a.start()
            deadline = time.monotonic() + 20
            while not audio_at and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert audio_at, "no audio arrived"
            # Unpatched aioice closes the connection after six slow answers: wait for more
            # than that many (aioice's timers run on the real clock; the wait is on a count).
            # Meanwhile B measures how far the picture is from the voice from the peers' own
            # RTCP sender reports and brings it inside BT.1359's window (lip sync).
            checked = answered.copy()
            skews: list[tuple[float, bool]] = []

            def fewest_since() -> int:
                return min((answered[k] - checked[k] for k in answered), default=0)

            deadline = time.monotonic() + 90
            while (len(answered) < 2 or fewest_since() < 7) and time.monotonic() < deadline:
                sync = b.generation.lipsync if b.generation else None
                if sync is not None and sync.skew_s is not None:
                    skews.append((sync.skew_s, bool(sync.in_window())))
                await asyncio.sleep(0.2)
            assert len(answered) >= 2, "consent checks ran on both sides"
            assert fewest_since() >= 7, f"consent checks answered: {answered} (before: {checked})"
            heard = len(audio_at)
            deadline = time.monotonic() + 20
            while len(audio_at) < heard + 10 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            sync = b.generation.lipsync if b.generation else None
            deadline = time.monotonic() + 20
            while sync is not None and not any(ok for _, ok in skews):
                if time.monotonic() > deadline:
                    break
                if sync.skew_s is not None:
                    skews.append((sync.skew_s, bool(sync.in_window())))
                await asyncio.sleep(0.2)
            result = (a.session, b.state, len(audio_at) - heard)
            await a.close()
            await b.close()
            return result, skews

    (session, state, heard_since), skews = asyncio.run(call())
    assert session == 1, "the peer connection had to be renegotiated"
    assert state is MediaState.connected
    assert heard_since >= 10  # audio still arriving after the consent checks
    if len(video_at) < 20:  # a starved CPU can hold the ladder at audio only: no picture
        print(f"lip sync not judged: only {len(video_at)} video frames arrived")
        return
    assert skews, "no A/V skew measured from the sender reports"
    assert any(ok for _, ok in skews), (
        f"video never within -125…+45 ms of its audio (BT.1359): {[round(1000 * s) for s, _ in skews[-10:]]} ms"
    )
