"""The real peer for bench/call_links.py: two headless Chromium peers through the same emulator.

Google's WebRTC stack as shipped in Debian's ``chromium`` (VP8 + Opus, its own congestion
control, NACK/RTX and whatever FEC it negotiates with itself), one browser process per peer,
each with a fresh profile, fake media permission and ``tests/support/chromium_peer.html`` served from
127.0.0.1. The page sends our test pattern (painted on a canvas with the live stamp, the text
line left out) at 640×480@15 and our tone; this script does the signaling by evaluating the
page's functions over the DevTools protocol and rewrites every ICE candidate to the
emulator's relays (``UdpLinkEmulator.rewrite_sdp``; TCP candidates are dropped), so every
media packet crosses the same shaped link, with the same seed, as in our own runs.

Measured at the receiving end of A→B, with the same definitions as bench/call_links.py where
the page can see the same thing: frames handed out by the receiver (MediaStreamTrackProcessor,
i.e. after Chrome's jitter buffer and A/V sync), their size, freezes (same gap rule), glass-to
-glass latency from the stamp, PSNR against the frame painted again, tone onsets for mouth-to
-ear; and from getStats: Chrome's own fps, freezeCount/totalFreezesDuration, concealed audio
(concealedSamples/totalSamplesReceived), concealment events and jitter-buffer delay (video
and audio), counted after the 5 s warm-up.

    .venv/bin/python bench/call_links.py --peer chromium --duration 30 --links b,c
    .venv/bin/python bench/call_links_chromium.py b --duration 20   # one run, JSON
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _delta(spans: list[tuple[dict, dict]], section: str, key: str) -> float:
    """How much getStats counter ``section``/``key`` grew over the measured spans."""
    total = 0.0
    for start, end in spans:
        a, b = start.get(section, {}), end.get(section, {})
        total += float(b.get(key, 0) or 0) - float(a.get(key, 0) or 0)
    return total


def _chrome_figures(spans: list[tuple[dict, dict]], measured_s: float) -> dict:
    """getStats growth over the measured spans (after warm-up; the outage left out), at B."""
    v, a = "inbound-rtp:video", "inbound-rtp:audio"
    samples = _delta(spans, a, "totalSamplesReceived")
    concealed = _delta(spans, a, "concealedSamples")
    vjb_n, ajb_n = (
        _delta(spans, v, "jitterBufferEmittedCount"),
        _delta(spans, a, "jitterBufferEmittedCount"),
    )
    last = spans[-1][1].get(v, {})
    return {
        "chrome_fps": round(_delta(spans, v, "framesDecoded") / measured_s, 1) if measured_s else 0,
        "chrome_frame": f"{last.get('frameWidth', '-')}x{last.get('frameHeight', '-')}",
        "chrome_freezes": int(_delta(spans, v, "freezeCount")),
        "chrome_freeze_s": round(_delta(spans, v, "totalFreezesDuration"), 1),
        "video_jitter_buffer_ms": round(1000 * _delta(spans, v, "jitterBufferDelay") / vjb_n)
        if vjb_n
        else None,
        "audio_jitter_buffer_ms": round(1000 * _delta(spans, a, "jitterBufferDelay") / ajb_n)
        if ajb_n
        else None,
        "audio_concealed_pct": round(100 * concealed / samples, 2) if samples else None,
        "audio_concealment_events": int(_delta(spans, a, "concealmentEvents")),
        "audio_received_s": round((samples - concealed) / 48_000, 1),
        "audio_lost_ms": round(concealed / 48),
        "video_nacks_sent": int(_delta(spans, v, "nackCount")),
        "video_fec_received": int(_delta(spans, v, "fecPacketsReceived")),
    }


def run_one(link: str, duration: float) -> dict:
    """One Chromium↔Chromium call over ``link``; the figures as bench/call_links.py's dict."""
    from bench.call_links import LINKS, OUTAGE_S, _figures
    from tests.linkemu.profile import LinkProfile
    from tests.linkemu.udp import UdpLinkEmulator
    from tests.support.chromium import (
        Browser,
        chromium_binary,
        host_address,
        keep_udp_candidates,
        page_server,
    )

    binary = chromium_binary()
    if binary is None:
        return {
            "mode": "chromium",
            "link": link,
            "error": "chromium is not installed (apt-get install chromium)",
        }

    async def main(url: str) -> dict:
        emu = UdpLinkEmulator(LinkProfile(seed=7, **LINKS[link]), host=host_address())
        a, b = Browser(binary, url), Browser(binary, url)
        sockets = []
        try:
            (wa, pa), (wb, pb) = await a.page(), await b.page()
            sockets = [wa, wb]
            await pa.eval("peer.start()")
            await pb.eval("peer.start()")
            offer = emu.rewrite_sdp(keep_udp_candidates(await pa.eval("peer.offer()")))
            answer = await pb.eval(f"peer.answer({json.dumps(offer)})")
            t0 = time.time()
            cpu0 = a.cpu_s() + b.cpu_s()
            await pa.eval(
                f"peer.accept({json.dumps(emu.rewrite_sdp(keep_udp_candidates(answer)))})"
            )
            outage = None
            marks: list[dict] = []  # stats at: warm-up end, [outage start, outage end]
            while time.time() - t0 < duration:
                await asyncio.sleep(0.5)
                if not marks and time.time() - t0 >= 5.0:
                    marks.append(await pb.eval("peer.stats()"))
                if (
                    link == "d"
                    and outage is None
                    and time.time() - t0 >= duration / 2 - OUTAGE_S / 2
                ):
                    marks.append(await pb.eval("peer.stats()"))
                    emu.outage(OUTAGE_S)
                    outage = (time.time(), time.time() + OUTAGE_S)
                if outage and len(marks) == 2 and time.time() >= outage[1]:
                    marks.append(await pb.eval("peer.stats()"))
            wall = time.time() - t0
            cpu = (a.cpu_s() + b.cpu_s() - cpu0) / wall / 2 * 100
            end_stats = await pb.eval("peer.stats()")
            rx = await pb.eval("peer.results()")
            sender = await pa.eval("peer.results()")
            pair = end_stats.get("pair", {})
        finally:
            for ws in sockets:
                with contextlib.suppress(Exception):
                    await ws.close()
            a.close()
            b.close()
            emu_stats = emu.stats
            emu.close()
        steps = [s / 1000 for s in sender["steps"]]
        m2e = []
        for at in rx["rx"]["onsets"]:
            before = [s for s in steps if s <= at + 0.05]
            if before and at - before[-1] < 1.5:
                m2e.append(at - before[-1])
        video = [tuple(v) for v in rx["rx"]["video"]]
        figures = _figures(
            "chromium",
            link,
            t0,
            wall,
            video,
            rx["rx"]["latencies"],
            rx["rx"]["psnrs"],
            [],
            outage,
            cpu,
            Counter(),
            emu_stats,
            m2e,
        )
        measured = wall - 5.0 - (OUTAGE_S if outage else 0.0)
        marks = (marks or [{}]) + [end_stats]
        spans = [(marks[i], marks[i + 1]) for i in range(0, len(marks) - 1, 2)]
        figures.update(_chrome_figures(spans, measured))
        figures["rtt_ms"] = (
            round(1000 * pair["currentRoundTripTime"]) if "currentRoundTripTime" in pair else None
        )
        figures["page_errors"] = rx["log"][:3]
        source = rx["rx"].get("psnrsSource") or []
        figures["psnr_source_db"] = round(sum(source) / len(source), 1) if source else None
        if "audio_m2e_ms_median" in figures and m2e:
            figures["av_offset_ms"] = round(
                1000 * (statistics.median(rx["rx"]["latencies"] or [0]) - statistics.median(m2e))
            )
        return figures

    with page_server() as url:
        return asyncio.run(main(url))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("link", choices=["a", "b", "c", "d"])
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    print(json.dumps(run_one(args.link, args.duration), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
