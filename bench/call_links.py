"""Benchmark: 1:1 calls through the UDP link emulator, low-band layer vs stock aiortc.

Links: (a) 2 Mbit/s, 50 ms RTT, no loss; (b) 256 kbit/s, 300 ms RTT, 3 % loss;
(c) 96 kbit/s, 600 ms RTT, 5 % loss; (d) link (b) with a 15 s outage in the middle.
Each run is a fresh subprocess with two clients (synthetic 640×480@15 pattern + tone) on
loopback, signaling in memory, media through the emulator. Measured at the receiving end of
A→B: received fps and resolution, freezes (gap ≥ max(3× mean frame interval, mean +
150 ms), the outage itself not counted), glass-to-glass latency from the stamped pattern,
PSNR against the frame handed to the encoder, audio received (s, decoded, not concealed),
audio missing or concealed (ms), audio gaps
(missing/concealed runs ≥ 60 ms) and the longest, overall and after recovery, time to media after the outage, CPU per client (process CPU minus the emulator
thread, halved: the two clients are symmetric).

    .venv/bin/python bench/call_links.py                 # 4 links × 2 modes × 60 s
    .venv/bin/python bench/call_links.py --duration 20 --links b,d --modes lowband
    .venv/bin/python bench/call_links.py --peer chromium --duration 30   # + two Chromium peers

The ``chrome_*`` columns are Chrome's own getStats (freezeCount, jitterBufferDelay); only the
Chromium rows have them. ``audio_concealed_pct``: concealed or missing audio over all audio.

``freeze_causes`` (low-band rows): per freeze, its start (s), length (s), how many frames
were never shown in it, and how the frame that ended it was made whole — ``parity``,
``resent`` (a NACK round trip) or ``-`` (it came whole: a queue, a keyframe, a CPU stall).
``CALL_LINKS_FRAMES=path`` also writes every frame B showed with its arrival and due time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LINKS = {
    "a": dict(latency_ms=25, bandwidth_bps=2e6, loss=0.0),
    "b": dict(latency_ms=150, bandwidth_bps=256e3, loss=0.03),
    "c": dict(latency_ms=300, bandwidth_bps=96e3, loss=0.05),
    "d": dict(latency_ms=150, bandwidth_bps=256e3, loss=0.03),
}
OUTAGE_S = 15.0
GAP_MS = 60.0  # an audio gap: missing or concealed audio for at least this long


def run_one(mode: str, link: str, duration: float, wide_groups: str = "default") -> dict:
    """One call; returns the figures as a dict."""
    import numpy as np
    import psutil

    from app.media import video_parity
    from app.media.engine import MediaConfig, MediaSession
    from app.media.loopback import use_loopback_candidates
    from app.media.pattern import now_ms, psnr, read_stamp
    from app.media.sources import SyntheticVideoTrack, ToneAudioTrack
    from tests.linkemu.profile import LinkProfile
    from tests.linkemu.udp import UdpLinkEmulator
    from tests.support.memory_signaling import SignalingPair

    use_loopback_candidates()
    emu = UdpLinkEmulator(LinkProfile(seed=7, **LINKS[link]))
    sent: dict[int, np.ndarray] = {}
    video_rx: list[tuple[float, int, int, int | None]] = []  # arrival, width, height, pts
    latencies: list[float] = []
    psnrs: list[float] = []
    psnrs_source: list[float] = []  # at the camera's 640×480: comparable across sizes
    audio_rx: list[
        tuple[float, int, int, int, bool]
    ] = []  # arrival, session, pts, samples, concealed
    lock = threading.Lock()
    mouth_to_ear: list[float] = []  # audio: capture of a tone step → decoded at B (s)
    a_tone = StampedTone()
    onset = OnsetDetector()

    def tap(frame) -> None:  # noqa: ANN001 - sender side: keep what the encoder got
        rgb = frame.to_ndarray(format="rgb24")
        stamp = read_stamp(rgb)
        if stamp is not None:
            with lock:
                sent[stamp[0]] = rgb
                for old in [k for k in sent if k < stamp[0] - 150]:
                    del sent[old]

    def on_b_frame(frame, now: float) -> None:  # noqa: ANN001
        if hasattr(frame, "width"):
            video_rx.append((now, frame.width, frame.height, frame.pts))
            if len(video_rx) % 3 == 0:
                rgb = frame.to_ndarray(format="rgb24")
                stamp = read_stamp(rgb)
                if stamp is not None:
                    latencies.append(((now_ms() - stamp[1]) & 0xFFFFFFFF) / 1000.0)
                    with lock:
                        ref = sent.get(stamp[0])
                    if ref is not None:
                        psnrs.append(psnr(rgb, ref))
                    if len(video_rx) % 6 == 0:
                        psnrs_source.append(_source_psnr(frame, rgb, stamp))
        else:
            if getattr(frame, "opaque", None) != "plc":
                at = onset.feed(frame.to_ndarray().reshape(-1), now)
                # No path is faster than 30 ms: a closer step is the next one, not this.
                steps = [t for t in list(a_tone.steps) if t <= at - 0.03] if at else []
                if steps and at - steps[-1] < 1.5:
                    mouth_to_ear.append(at - steps[-1])
            session = b.generation.session if b.generation else 0
            audio_rx.append(
                (
                    now,
                    session,
                    frame.pts or 0,
                    frame.samples,
                    getattr(frame, "opaque", None) == "plc",
                )
            )

    lowband = mode == "lowband"

    def config() -> MediaConfig:
        return MediaConfig(
            lowband=lowband,
            reconnect=lowband,
            sdp_rewriter=emu.rewrite_sdp,
            q_peer_wide_groups=None
            if wide_groups == "default"
            else getattr(video_parity, wide_groups),
        )

    async def main() -> dict:
        nonlocal b
        pair = SignalingPair(delay_s=LINKS[link]["latency_ms"] / 1000)
        a = MediaSession(
            offerer=True,
            send_signal=pair.sender("a"),
            video_source=SyntheticVideoTrack(640, 480, 15),
            audio_source=a_tone,
            config=config(),
            video_tap=tap,
        )
        b = MediaSession(
            offerer=False,
            send_signal=pair.sender("b"),
            video_source=SyntheticVideoTrack(640, 480, 15),
            audio_source=ToneAudioTrack(),
            config=config(),
            on_remote_frame=on_b_frame,
        )
        pair.sessions.update(a=a, b=b)
        proc = psutil.Process()
        cpu0 = proc.cpu_times()
        emu_cpu0 = _thread_cpu(proc, emu._thread.native_id)
        t0 = time.monotonic()
        await b.start()
        await a.start()
        outage = None
        rungs: Counter[str] = Counter()
        skews: list[float] = []  # B's lip-sync estimate (RTCP SR), once a second after warm-up
        while time.monotonic() - t0 < duration:
            await asyncio.sleep(1.0)
            rungs[a.stats.rung] += 1
            sync = b.generation.lipsync if b.generation else None
            if sync is not None and sync.skew_s is not None and time.monotonic() - t0 > 5.0:
                skews.append(sync.skew_s)
            if os.environ.get("CALL_LINKS_TRACE"):
                for name, s in (("A", a), ("B", b)):
                    st = s.stats
                    print(
                        f"{time.monotonic() - t0:5.1f}s {name} {s.state.value[:5]} {st.rung:11} "
                        f"est={st.estimate_bps / 1000:.0f}k remb={(st.remb_bps or 0) / 1000:.0f}k "
                        f"loss={_pct(st.loss_out)} rtt={_ms(st.rtt_s)} "
                        f"queue={_ms(st.queue_out_ms and st.queue_out_ms / 1000)} stall={st.loop_stall_ms:.0f} busy={st.cpu_busy:.2f} "
                        f"send={st.send_bps / 1000:.0f}k v={st.send_video_bps / 1000:.0f}k "
                        f"a={st.send_audio_bps / 1000:.0f}k "
                        f"skew={_ms(s.generation and s.generation.lipsync.skew_s)} "
                        f"adelay={_ms(s.generation and s.generation.lipsync.audio_delay_s)} "
                        f"{_playout(s)} {_encoder_trace(s)}",
                        file=sys.stderr,
                        flush=True,
                    )
            if (
                link == "d"
                and outage is None
                and time.monotonic() - t0 >= duration / 2 - OUTAGE_S / 2
            ):
                emu.outage(OUTAGE_S)
                outage = (time.monotonic(), time.monotonic() + OUTAGE_S)
        wall = time.monotonic() - t0
        cpu1 = proc.cpu_times()
        video_path = _video_path_counts(a, b, t0)
        repaired = _repaired(b)
        video_path["freeze_causes"] = _freeze_causes(video_rx, t0, repaired)
        shown = {f[3]: f[0] for f in video_rx}
        video_path["repaired_shown"] = Counter(v for k, v in repaired.items() if k in shown)
        video_path["repaired_all"] = Counter(repaired.values())
        if os.environ.get("CALL_LINKS_FRAMES"):
            arrived = {}
            for d in b.generation.drains if b.generation else []:
                if d.track.kind == "video":
                    arrived = {pts: (at, due) for pts, at, due in d.playout.history}
            with open(os.environ["CALL_LINKS_FRAMES"], "w") as fh:
                for t, w, h, pts in video_rx:
                    at, due = arrived.get(pts, (t0, t0))
                    print(
                        f"{t - t0:.3f} {w}x{h} {pts} arrived {at - t0:.3f} due {due - t0:.3f} "
                        f"{repaired.get(pts, '')}",
                        file=fh,
                    )
        sync = b.generation.lipsync if b.generation else None
        video_path["sync_skew_ms"] = round(1000 * statistics.median(skews)) if skews else None
        video_path["sync_audio_delay_ms"] = round(1000 * sync.audio_delay_s) if sync else None
        video_path["sync_corrections"] = sync.corrections if sync else None
        emu_cpu = _thread_cpu(proc, emu._thread.native_id) - emu_cpu0
        cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system - emu_cpu) / wall / 2 * 100
        await a.close()
        await b.close()
        emu.close()
        return {
            **_figures(
                mode,
                link,
                t0,
                wall,
                video_rx,
                latencies,
                psnrs,
                audio_rx,
                outage,
                cpu,
                rungs,
                emu.stats,
                list(mouth_to_ear),
            ),
            "m2e_raw": [round(x, 3) for x in mouth_to_ear][:20],
            "psnr_source_db": _mean1(psnrs_source),
            **video_path,
        }

    b = None
    return asyncio.run(main())


_SOURCE = (640, 480)  # what SyntheticVideoTrack paints (and Chrome's page)


def _source_psnr(frame, rgb, stamp) -> float:  # noqa: ANN001 - B's decoded frame
    """PSNR of the received picture shown at the source's 640×480 (scaled up, bicubic)
    against the source frame painted again from its stamp: a 320×240 picture loses what
    the scaling dropped, so sizes compare fairly (Chrome's page measures the same way)."""
    from app.media.pattern import PatternPainter, psnr

    global _painter
    if _painter is None:
        _painter = PatternPainter(*_SOURCE)
    source = _painter.paint(stamp[0], stamp[1])
    if (frame.width, frame.height) != _SOURCE:
        rgb = frame.reformat(width=_SOURCE[0], height=_SOURCE[1], format="rgb24").to_ndarray()
    # Without the bottom text line: Chrome's page paints none, and ours prints the wall
    # clock's seconds, which a repaint does not reproduce.
    rows = int(_SOURCE[1] * 0.93)
    return psnr(rgb[:rows], source[:rows])


_painter = None


def _mean1(values: list[float]) -> float | None:
    return round(statistics.mean(values), 1) if values else None


def _video_path_counts(a, b, t0: float) -> dict:  # noqa: ANN001 - current connections, A → B
    """Keyframes A's encoder made and holes B's video buffer gave up on (low-band only)."""
    from app.media import aiortc_adapter as adapter

    out = {}
    for tx in a.generation.pc.getTransceivers() if a.generation else []:
        encoder = adapter.encoder(tx.sender)
        if hasattr(encoder, "keyframes"):
            out["keyframes"] = encoder.keyframes
            out["kf_log"] = [(k, round(t - t0, 1)) for k, t in encoder.keyframe_log]
        limiter = getattr(getattr(tx.sender, "_retransmit", None), "limiter", None)
        if limiter is not None and tx.kind == "video":
            out["retransmitted"], out["retransmit_refused"] = limiter.sent, limiter.refused
    for tx in b.generation.pc.getTransceivers() if b.generation else []:
        buffer = adapter.jitter_buffer(tx.receiver)
        if hasattr(buffer, "holes_skipped"):
            out["holes_skipped"], out["asked_again"] = buffer.holes_skipped, buffer.asked_again
            out["parity_received"] = buffer.parity.parities
            out["parity_recovered"] = buffer.parity.recovered
            out["parity_q_received"] = buffer.parity.second_parities
            out["parity_recovered_with_q"] = buffer.parity.recovered_with_q
            out["parity_two_rebuilt"] = buffer.parity.two_rebuilt
            out["upper_layer_skipped"] = getattr(buffer, "upper_skipped", None)
    out["parity_overhead"] = round(a.adaptation.control.parity_overhead, 3)
    # The data channel carries the link feedback and the parity offer: without it the
    # ladder falls back to RTCP's rules and no parity is sent.
    out["feedback_sent"] = [a.messaging.feedback_sent, b.messaging.feedback_sent]
    return out


def _repaired(b) -> dict[int, str]:  # noqa: ANN001 - B's video buffer: frames made whole late
    from app.media import aiortc_adapter as adapter

    for tx in b.generation.pc.getTransceivers() if b.generation else []:
        buffer = adapter.jitter_buffer(tx.receiver)
        if hasattr(buffer, "repaired"):
            return dict(buffer.repaired)
    return {}


def _freeze_causes(video_rx, t0: float, repaired: dict[int, str]) -> list:  # noqa: ANN001
    """Per freeze (as ``_figures`` counts them): start (s), gap (s), frames missing in it
    (never shown: skipped upper-layer frames, holes given up, not sent) and how the frame
    that ended it was made whole: "parity", "resent" (NACK), or "-" (arrived whole: late
    in a queue, a keyframe's size, or a CPU stall)."""
    frames = [f for f in video_rx if f[0] >= t0 + 5.0]
    if len(frames) < 3:
        return []
    gaps = [b[0] - a[0] for a, b in zip(frames, frames[1:], strict=False)]
    mean = statistics.mean(gaps)
    limit = max(3 * mean, mean + 0.150)
    steps = [b[3] - a[3] for a, b in zip(frames, frames[1:], strict=False) if a[3] and b[3]]
    step = statistics.median(steps) if steps else 6000
    out = []
    for (t1, *_, p1), (_, *_, p2), g in zip(frames, frames[1:], gaps, strict=False):
        if g >= limit:
            missing = round((p2 - p1) / step) - 1 if p1 is not None and p2 is not None else None
            out.append((round(t1 - t0, 1), round(g, 2), missing, repaired.get(p2, "-")))
    return out


def _playout(s) -> str:  # noqa: ANN001 - the video playout delay the session receives with
    for d in s.generation.drains if s.generation else []:
        if d.track.kind == "video":
            p = d.playout
            return f"vdelay={_ms(p.delay_s)} late96={_ms(p.observed_delay())} play={_ms(p.delay())}"
    return ""


_encoded_before: dict[int, int] = {}


def _encoder_trace(s) -> str:  # noqa: ANN001 - what the VP8 encoder was asked for and made
    from app.media import aiortc_adapter as adapter

    for tx in s.generation.pc.getTransceivers() if s.generation else []:
        enc = adapter.encoder(tx.sender)
        if hasattr(enc, "encoded_bytes"):
            made = enc.encoded_bytes - _encoded_before.get(id(enc), 0)
            _encoded_before[id(enc)] = enc.encoded_bytes
            return f"enc_target={enc.target_bitrate / 1000:.0f}k enc_out={made * 8 / 1000:.0f}k"
    return ""


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{1000 * x:.0f}ms"


def _thread_cpu(proc, native_id: int) -> float:  # noqa: ANN001
    for t in proc.threads():
        if t.id == native_id:
            return t.user_time + t.system_time
    return 0.0


def StampedTone():  # noqa: ANN201, N802 - a ToneAudioTrack that notes its steps
    """The tone, noting when each step up was generated (monotonic): the moment a
    microphone would have captured it, as the video stamp is the moment of painting (the
    tone's own clock runs ahead of that when a loaded CPU makes it catch up)."""
    from app.media.sources import ToneAudioTrack

    class _Stamped(ToneAudioTrack):
        def __init__(self) -> None:
            super().__init__()
            self.steps: list[float] = []

        async def recv(self):  # noqa: ANN202
            frame = await super().recv()
            if frame.pts % 96_000 == 0:  # full level from every even second of the tone
                self.steps.append(time.monotonic())
            return frame

    return _Stamped()


class OnsetDetector:
    """Finds the tone's step up (level ×3.3 at every even second) in received audio."""

    def __init__(self) -> None:
        self._levels = [0.0, 0.0]  # the two 10 ms chunks before
        self._last_at = -10.0

    def feed(self, pcm, now: float) -> float | None:  # noqa: ANN001 - int16 samples
        """When the step's first sample arrived (monotonic), if this frame has it."""
        import numpy as np

        found = None
        chunks = len(pcm) // 480
        for i in range(chunks):  # 10 ms steps
            level = float(np.sqrt(np.mean(pcm[i * 480 : (i + 1) * 480].astype(np.float64) ** 2)))
            # Against the chunk two back: the step can fall anywhere inside a chunk, which
            # then sits between the levels and neither neighbour rises 2.5× from it.
            before = self._levels[0]
            rising = before > 100 and level > 2.5 * before
            if rising and now - self._last_at > 1.5:
                # A frame handed out at ``now`` starts playing then: the step, about half a
                # chunk before chunk i, plays that far into it. (This was timed from the
                # frame's end, as if it had been heard by ``now``: audio mouth-to-ear read one
                # frame (40 ms) + 5 ms short and the A/V offset as much too high.)
                found = now + (i * 480 - 240) / 48_000
                self._last_at = now
            self._levels = [self._levels[1], level]
        return found


def _figures(
    mode,
    link,
    t0,
    wall,
    video_rx,
    latencies,
    psnrs,
    audio_rx,
    outage,
    cpu,
    rungs,
    emu_stats,
    mouth_to_ear=(),
):  # noqa: ANN001, ANN202, PLR0913
    warm = t0 + 5.0  # first 5 s: connection set-up and ramp
    frames = [f for f in video_rx if f[0] >= warm]
    times = [f[0] for f in frames]
    gaps = [(t2 - t1, t1) for t1, t2 in zip(times, times[1:], strict=False)]
    mean = statistics.mean(g for g, _ in gaps) if gaps else 0.0
    limit = max(3 * mean, mean + 0.150)
    freezes = [
        g
        for g, start in gaps
        if g >= limit and not (outage and start <= outage[1] and start + g >= outage[0])
    ]
    measured = wall - 5.0 - (outage[1] - outage[0] if outage else 0.0)
    sizes = Counter(f"{f[1]}x{f[2]}" for f in frames)  # (arrival, w, h[, pts]): Chrome's has no pts
    big = sum(1 for f in frames if f[1] >= 320 and f[2] >= 240)
    audio = _audio_figures(audio_rx, warm, outage)
    back = None
    if outage:
        after = [t for t in times if t > outage[1]]
        back = (after[0] - outage[1]) if after else None
    return {
        "mode": mode,
        "link": link,
        "seconds": round(wall, 1),
        "fps": round(len(frames) / measured, 1) if measured > 0 else 0,
        "resolution": sizes.most_common(1)[0][0] if sizes else "-",
        "share_ge_320x240": round(big / len(frames), 2) if frames else 0,
        "freezes": len(freezes),
        "freeze_s": round(sum(freezes), 1),
        "longest_freeze_s": round(max(freezes), 1) if freezes else 0,
        "freeze_starts_s": [(round(start - t0, 1), round(g, 2)) for g, start in gaps if g >= limit],
        "latency_ms_median": round(1000 * statistics.median(latencies)) if latencies else None,
        "latency_ms_p95": round(1000 * sorted(latencies)[int(0.95 * (len(latencies) - 1))])
        if latencies
        else None,
        "psnr_db": round(statistics.mean(psnrs), 1) if psnrs else None,
        "audio_m2e_ms_median": round(1000 * statistics.median(mouth_to_ear))
        if mouth_to_ear
        else None,
        # Lip sync from the stamps: how much later video is shown than its audio is handed
        # out (+: video late; BT.1359 allows −125…+45 ms). sync_skew_ms: the receiver's own
        # estimate from RTP timestamps and RTCP sender reports (app.media.lipsync).
        "av_offset_ms": round(
            1000 * (statistics.median(latencies) - statistics.median(mouth_to_ear))
        )
        if mouth_to_ear and latencies
        else None,
        **audio,
        "media_back_after_s": round(back, 1) if back is not None else None,
        "cpu_per_client_pct": round(cpu, 1),
        "rungs": dict(rungs.most_common(3)),
        "emu_drop_queue": emu_stats.dropped_queue,
        "emu_drop_loss": emu_stats.dropped_loss,
    }


def _audio_figures(audio_rx, warm: float, outage) -> dict:  # noqa: ANN001
    """Audio missing from the RTP timeline or concealed (PLC), per session, in ms.

    An audio gap is a run of missing or concealed audio of at least ``GAP_MS`` (a single
    concealed 40 ms packet is not one); the outage itself is not counted."""
    bad_ms = lost_after = longest = run = heard_ms = 0.0
    gaps = 0
    prev: dict[int, int] = {}  # session -> expected next pts

    def close_run() -> None:
        nonlocal run, gaps, longest
        if run >= GAP_MS:
            gaps += 1
        longest, run = max(longest, run), 0.0

    resumed = False  # the first frame after the outage closes the outage's own hole
    for now, session, pts, samples, concealed in audio_rx:
        expected = prev.get(session)
        prev[session] = pts + samples
        skip = now < warm or expected is None
        if outage is not None and now >= outage[0] and not resumed:
            skip, resumed = True, now > outage[1]
        if skip:
            run = 0.0
            continue
        heard_ms += 0.0 if concealed else samples / 48.0
        missing = max(0.0, (pts - expected) / 48.0)
        bad = missing + (samples / 48.0 if concealed else 0.0)
        bad_ms += bad
        if outage and now > outage[1]:
            lost_after += bad
        if missing > 1:
            run += missing
        if concealed:
            run += samples / 48.0
        else:
            close_run()
    close_run()
    return {
        "audio_received_s": round(heard_ms / 1000, 1),
        "audio_lost_ms": round(bad_ms),
        "audio_gaps": gaps,
        "audio_longest_gap_ms": round(longest),
        "audio_lost_after_recovery_ms": round(lost_after) if outage else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--links", default="a,b,c,d")
    parser.add_argument(
        "--modes", default="lowband,stock", help="lowband, stock and/or chromium (the real peer)"
    )
    parser.add_argument(
        "--peer",
        choices=["chromium"],
        help="add the real peer: two headless Chromium peers (bench/call_links_chromium.py)",
    )
    parser.add_argument(
        "--wide-groups",
        choices=["default", "WIDE_GROUPS", "SHORT_GROUPS", "WIDE_PQ_GROUPS"],
        default="default",
        help="low-band parity groups at >= 12 fps between our peers (app.media.video_parity; "
        "default: its WIDE_GROUPS_FOR_Q_PEERS)",
    )
    parser.add_argument("--run-one", nargs=2, metavar=("MODE", "LINK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        result = run_one(args.run_one[0], args.run_one[1], args.duration, args.wide_groups)
        print(json.dumps(result), flush=True)
        return 0
    modes = args.modes.split(",")
    if args.peer and args.peer not in modes:
        modes.append(args.peer)
    results = []
    load0 = os.getloadavg()
    for link in args.links.split(","):
        for mode in modes:
            if mode == "chromium":
                command = [str(Path(__file__).with_name("call_links_chromium.py")), link]
            else:
                command = [__file__, "--run-one", mode, link]
                command += ["--wide-groups", args.wide_groups]
            proc = subprocess.run(
                [sys.executable, *command, "--duration", str(args.duration)],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            if os.environ.get("CALL_LINKS_TRACE"):
                sys.stderr.write(proc.stderr)  # the run's once-a-second trace
            line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            try:
                result = json.loads(line)
            except ValueError:
                result = {"mode": mode, "link": link, "error": proc.stderr[-500:]}
            result["load_avg_1m"] = round(os.getloadavg()[0], 2)
            if result.get("audio_concealed_pct") is None and "audio_lost_ms" in result:
                heard = 1000 * result.get("audio_received_s", 0) + result["audio_lost_ms"]
                result["audio_concealed_pct"] = (
                    round(100 * result["audio_lost_ms"] / heard, 2) if heard else None
                )
            results.append(result)
            print(json.dumps(result, ensure_ascii=False), flush=True)
    print()
    cols = [
        "link",
        "mode",
        "fps",
        "resolution",
        "share_ge_320x240",
        "freezes",
        "freeze_s",
        "latency_ms_median",
        "latency_ms_p95",
        "psnr_db",
        "psnr_source_db",
        "audio_m2e_ms_median",
        "av_offset_ms",
        "sync_skew_ms",
        "sync_audio_delay_ms",
        "audio_received_s",
        "audio_lost_ms",
        "audio_concealed_pct",
        "audio_gaps",
        "audio_longest_gap_ms",
        "audio_lost_after_recovery_ms",
        "media_back_after_s",
        "cpu_per_client_pct",
        "chrome_freezes",
        "chrome_freeze_s",
        "video_jitter_buffer_ms",
        "audio_jitter_buffer_ms",
        "load_avg_1m",
    ]
    print(
        f"{args.duration:.0f} s per run; load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    print(" | ".join(cols))
    for r in results:
        print(" | ".join(str(r.get(c, "")) for c in cols))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
