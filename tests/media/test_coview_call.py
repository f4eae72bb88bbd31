"""Co-viewing in a real call: two MediaSessions on loopback through the UDP link emulator at
256 kbit/s and 300 ms round trip, the co-viewing sessions riding the call's data channel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from app.dicom_viewer.annotations import Annotation
from app.dicom_viewer.coview import CoviewSession, PatientIdentity
from app.media.engine import MediaConfig, MediaSession, MediaState
from app.media.ladder import rung_index
from app.media.loopback import use_loopback_candidates
from app.media.sources import SyntheticVideoTrack, ToneAudioTrack
from app.protocol.datachannel import CoviewView, SharedSeries
from tests.linkemu.profile import LinkProfile
from tests.linkemu.udp import UdpLinkEmulator
from tests.support.memory_signaling import SignalingPair

PATIENT = PatientIdentity("P-0001", "王^小明")
SERIES = SharedSeries(
    consultation_id="c1",
    study_uid="1.2.3",
    series_uid="1.2.3.4",
    patient_id="P-0001",
    patient_name="王^小明",
)


def _coview(media: MediaSession, me: str) -> CoviewSession:
    session = CoviewSession(me, PATIENT, "c1", media.messaging.send)
    media.messaging.on_coview = session.receive
    media.messaging.on_reopen = session.resync
    return session


async def _until(
    what: str, predicate: Callable[[], bool], sessions: list[CoviewSession], timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for s in sessions:
            s.flush()  # the viewer's timer does this
        await asyncio.sleep(0.05)


def test_two_doctors_co_view_a_series_over_a_slow_link_and_agree_after_an_outage() -> None:
    use_loopback_candidates()
    profile = LinkProfile(latency_ms=150, bandwidth_bps=256_000, seed=3)

    async def scenario() -> dict[str, float]:
        with UdpLinkEmulator(profile) as emu:
            config = MediaConfig(
                start_rung=rung_index("160x120@10"),
                sdp_rewriter=emu.rewrite_sdp,
                dead_after_s=3.0,
                retry_every_s=3.0,
            )
            pair = SignalingPair(delay_s=0.15)
            a = MediaSession(
                offerer=True,
                send_signal=pair.sender("a"),
                config=config,
                video_source=SyntheticVideoTrack(160, 120, 5),
                audio_source=ToneAudioTrack(),
                author="dr.li",
            )
            b = MediaSession(
                offerer=False,
                send_signal=pair.sender("b"),
                config=config,
                video_source=SyntheticVideoTrack(160, 120, 5),
                audio_source=ToneAudioTrack(),
                author="dr.wang",
            )
            pair.sessions.update(a=a, b=b)
            li, wang = _coview(a, "dr.li"), _coview(b, "dr.wang")
            both = [li, wang]
            await b.start()
            await a.start()

            def channel_open(m: MediaSession) -> bool:
                ch = m.messaging.channel
                return (
                    m.state is MediaState.connected and ch is not None and ch.readyState == "open"
                )

            await _until("the call", lambda: channel_open(a) and channel_open(b), both)
            li.start_share(SERIES, "s1")
            await _until("the share", lambda: wang.active, both)
            took: dict[str, float] = {}

            # the presenter changes slice and window and draws a length
            t0 = time.monotonic()
            view = CoviewView(
                series_uid="1.2.3.4",
                sop_instance_uid="1.9.7",
                frame_index=7,
                window_center=40,
                window_width=400,
            )
            li.set_view(view)
            length = li.add_annotation(Annotation("length", [(10, 10), (40, 50)], "", "1.9.7"))
            await _until(
                "view and length", lambda: wang.view == view and length.id in wang.annotations, both
            )
            took["view+length"] = time.monotonic() - t0
            assert wang.annotations[length.id].points == [(10, 10), (40, 50)]

            # the other side draws an ROI that the presenter sees
            t0 = time.monotonic()
            roi = wang.add_annotation(Annotation("ellipse", [(20, 20), (60, 40)], "", "1.9.7"))
            await _until("the ROI", lambda: roi.id in li.annotations, both)
            took["roi"] = time.monotonic() - t0

            # the presenter role passes
            wang.request_presenter()
            await _until("the request", lambda: li.presenter_requested_by == "dr.wang", both)
            li.hand_over("dr.wang")
            await _until("the hand-over", lambda: wang.presenting, both)

            # a 10 s outage; both change things meanwhile; afterwards they agree again
            emu.outage(10)
            await _until("reconnecting", lambda: a.state is MediaState.reconnecting, both)
            wang.set_view(CoviewView(series_uid="1.2.3.4", sop_instance_uid="1.9.9", frame_index=9))
            late = li.add_annotation(Annotation("arrow", [(5, 5), (9, 9)], "", "1.9.9"))
            li.undo()  # undo the arrow drawn in the outage …
            li.undo()  # … and the length from before
            await _until(
                "agreement after the outage",
                lambda: (
                    li.annotations == wang.annotations
                    and li.view == wang.view
                    and li.presenter == wang.presenter == "dr.wang"
                ),
                both,
                timeout=60,
            )
            assert late.id not in wang.annotations and length.id not in wang.annotations
            assert roi.id in li.annotations  # dr.li could not undo dr.wang's ROI
            assert li.view.frame_index == 9
            await a.close()
            await b.close()
            return took

    took = asyncio.run(scenario())
    print(f"\nco-viewing over 256 kbit/s, 300 ms RTT: {took}")
