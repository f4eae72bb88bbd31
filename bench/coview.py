"""Benchmark: what co-viewing costs on the wire, and whether the call keeps its voice.

Part 1 (deterministic, injected clock): bytes per second of co-viewing messages (JSON on the
data channel, as ``encode_message`` makes them; SCTP/DTLS/UDP headers not included) while
the presenter scrolls (10 images/s with the mouse moving), drags window/level (60 mouse
events/s) and draws (a length and a freehand ROI every 3 s, laser pointer moving).

Part 2 (real call, timing figures noisy on a loaded machine): two MediaSessions on loopback
through the UDP link emulator at 256 kbit/s, 300 ms RTT; 20 s without co-viewing (baseline,
same run), then 20 s with the scroll + W/L + drawing script running over the data channel.
Reported per phase: audio gaps at the receiver (audio frames ≥ 100 ms apart), the longest,
the video bitrate and ladder rung the sender ended on.

    .venv/bin/python bench/coview.py [--seconds 20] [--no-call]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.dicom_viewer.annotations import Annotation  # noqa: E402
from app.dicom_viewer.coview import CoviewSession, PatientIdentity  # noqa: E402
from app.protocol.datachannel import CoviewView, SharedSeries, encode_message  # noqa: E402

PATIENT = PatientIdentity("P-0001", "王^小明")
SERIES = SharedSeries(
    consultation_id="c1",
    study_uid="1.2.826.0.1.3680043.8.498.1",
    series_uid="1.2.826.0.1.3680043.8.498.1.2",
    patient_id="P-0001",
    patient_name="王^小明",
)
SOP = "1.2.826.0.1.3680043.8.498.1.2.{}"


def script(session: CoviewSession, kind: str, t: float, step: int) -> None:
    """One 1/60 s tick of the presenter's hands."""
    x, y = 256 + 100 * math.sin(t), 256 + 80 * math.cos(t)
    frame = int(t * 10) % 200 if kind == "scroll" else 40
    sop = SOP.format(frame)
    if kind in ("scroll", "wl"):
        wc = 40 + 200 * math.sin(t) if kind == "wl" else 40.0
        session.set_view(
            CoviewView(
                series_uid=SERIES.series_uid,
                sop_instance_uid=sop,
                frame_index=frame,
                window_center=round(wc, 1),
                window_width=400.0,
                zoom=1.5,
                center=(256.0, 256.0),
            )
        )
    session.move_pointer(sop, round(x, 1), round(y, 1))
    if kind == "draw" and step % 180 == 0:
        session.add_annotation(Annotation("length", [(x, y), (x + 40, y + 25)], "", sop))
        pts = [(x + 30 * math.cos(a / 12), y + 20 * math.sin(a / 12)) for a in range(75)]
        session.add_annotation(Annotation("freehand", pts, "", sop))
    session.flush()


def message_bytes(seconds: float = 10.0) -> dict[str, float]:
    out: dict[str, float] = {}
    for kind in ("scroll", "wl", "draw"):
        clock = [0.0]
        sent: list[int] = []

        def send(message, sent=sent) -> bool:  # noqa: ANN001
            sent.append(len(encode_message(message).encode()))
            return True

        s = CoviewSession("dr.li", PATIENT, "c1", send, clock=lambda c=clock: c[0])
        s.start_share(SERIES, "s1")
        sent.clear()
        steps = int(seconds * 60)
        for i in range(steps):
            clock[0] = i / 60
            script(s, kind, clock[0], i)
        out[kind] = sum(sent) / seconds
        out[kind + "_msgs"] = len(sent) / seconds
    return out


async def call_phases(seconds: float) -> list[dict[str, object]]:
    from app.media.engine import MediaConfig, MediaSession, MediaState
    from app.media.loopback import use_loopback_candidates
    from app.media.sources import SyntheticVideoTrack, ToneAudioTrack
    from tests.linkemu.profile import LinkProfile
    from tests.linkemu.udp import UdpLinkEmulator
    from tests.support.memory_signaling import SignalingPair

    use_loopback_candidates()
    audio_at: list[float] = []

    def on_frame(frame: object, now: float) -> None:
        if not hasattr(frame, "width"):
            audio_at.append(now)

    results = []
    with UdpLinkEmulator(LinkProfile(latency_ms=150, bandwidth_bps=256_000, seed=1)) as emu:
        config = MediaConfig(sdp_rewriter=emu.rewrite_sdp)
        pair = SignalingPair(delay_s=0.15)
        a = MediaSession(
            offerer=True,
            send_signal=pair.sender("a"),
            config=config,
            video_source=SyntheticVideoTrack(640, 480, 15),
            audio_source=ToneAudioTrack(),
        )
        b = MediaSession(
            offerer=False,
            send_signal=pair.sender("b"),
            config=config,
            video_source=SyntheticVideoTrack(640, 480, 15),
            audio_source=ToneAudioTrack(),
            on_remote_frame=on_frame,
        )
        pair.sessions.update(a=a, b=b)
        li = CoviewSession("dr.li", PATIENT, "c1", a.messaging.send)
        wang = CoviewSession("dr.wang", PATIENT, "c1", b.messaging.send)
        a.messaging.on_coview = li.receive
        b.messaging.on_coview = wang.receive
        await b.start()
        await a.start()
        deadline = time.monotonic() + 30
        while not (a.state is MediaState.connected and audio_at) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(8)  # let the ladder settle
        for phase in ("baseline", "coview"):
            if phase == "coview":
                li.start_share(SERIES, "s1")
            start = time.monotonic()
            first = len(audio_at)
            step = 0
            while time.monotonic() - start < seconds:
                if phase == "coview":
                    kind = ("scroll", "wl", "draw")[int((time.monotonic() - start) / 5) % 3]
                    script(li, kind, time.monotonic() - start, step)
                step += 1
                await asyncio.sleep(1 / 60)
            if phase == "coview":
                await asyncio.sleep(1.0)
                li.flush()
                await asyncio.sleep(1.0)
            times = audio_at[first:]
            gaps = [t2 - t1 for t1, t2 in zip(times, times[1:], strict=False)]
            results.append(
                {
                    "phase": phase,
                    "audio_frames": len(times),
                    "audio_gaps_100ms": sum(1 for g in gaps if g >= 0.1),
                    "longest_audio_gap_ms": round(1000 * max(gaps, default=0)),
                    "send_video_kbps": round(a.stats.send_video_bps / 1000, 1),
                    "send_audio_kbps": round(a.stats.send_audio_bps / 1000, 1),
                    "rung": a.stats.rung,
                    "follower_agrees": wang.view == li.view if phase == "coview" else None,
                }
            )
        await a.close()
        await b.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-call", action="store_true")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}  cpus: {os.cpu_count()}")
    figures = message_bytes()
    print("co-viewing messages (JSON payload, bytes/s; messages/s):")
    for kind in ("scroll", "wl", "draw"):
        print(
            f"  {kind:7s} {figures[kind]:8.0f} B/s = {figures[kind] * 8 / 1000:5.1f} kbit/s"
            f"   {figures[kind + '_msgs']:5.1f} msg/s"
        )
    if not args.no_call:
        for row in asyncio.run(call_phases(args.seconds)):
            print("  ", row)


if __name__ == "__main__":
    main()
