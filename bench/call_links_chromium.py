"""The real peer for bench/call_links.py: two headless Chromium peers through the same emulator.

Google's WebRTC stack as shipped in Debian's ``chromium`` (VP8 + Opus, its own congestion
control, NACK/RTX and whatever FEC it negotiates with itself), one browser process per peer,
each with a fresh profile, fake media permission and ``bench/chromium_peer.html`` served from
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
import functools
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HERE = Path(__file__).resolve().parent
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--remote-debugging-port=0",
]


def chromium_binary() -> str | None:
    """Debian's chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def host_address() -> str:
    """The address Chromium gathers host candidates on (it skips loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent; only picks the source address
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def keep_udp_candidates(sdp: str) -> str:
    """Drop TCP candidates: they would bypass the UDP emulator."""
    lines = sdp.split("\r\n")
    return "\r\n".join(
        ln for ln in lines if not (ln.startswith("a=candidate:") and " tcp " in ln.lower())
    )


class _Page:
    """A DevTools session on one Chromium page: evaluate JS and await its promise."""

    def __init__(self, ws) -> None:  # noqa: ANN001 - websockets connection
        self._ws, self._id = ws, 0

    async def eval(self, expr: str, timeout: float = 30.0):  # noqa: ANN201
        self._id += 1
        await self._ws.send(
            json.dumps(
                {
                    "id": self._id,
                    "method": "Runtime.evaluate",
                    "params": {"expression": expr, "awaitPromise": True, "returnByValue": True},
                }
            )
        )
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(
                await asyncio.wait_for(self._ws.recv(), max(0.1, deadline - time.monotonic()))
            )
            if msg.get("id") != self._id:
                continue
            result = msg.get("result", {})
            if "exceptionDetails" in result or "error" in msg:
                raise RuntimeError(f"{expr[:60]}: {result.get('exceptionDetails') or msg}")
            return result["result"].get("value")


class _Browser:
    """One headless Chromium process with a fresh profile, on ``url``."""

    def __init__(self, binary: str, url: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="yiqiao-chromium-")
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = url

    async def page(self) -> tuple[object, _Page]:
        import websockets

        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                port = int(port_file.read_text().split()[0])
                with contextlib.suppress(OSError, ValueError):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                        for target in json.load(r):
                            if target.get("type") == "page" and target["url"] == self.url:
                                ws = await websockets.connect(
                                    target["webSocketDebuggerUrl"], max_size=None
                                )
                                page = _Page(ws)
                                # The target is listed before its document commits.
                                while await page.eval("typeof window.peer") != "object":
                                    if time.monotonic() > deadline:
                                        raise RuntimeError("the peer page did not load")
                                    await asyncio.sleep(0.1)
                                return ws, page
            await asyncio.sleep(0.2)
        raise RuntimeError("Chromium did not open its DevTools port within 30 s")

    def cpu_s(self) -> float:
        import psutil

        try:
            procs = [psutil.Process(self.proc.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.Error:
            return 0.0
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.profile, ignore_errors=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _page_server():
    # Serves bench/ (the page); localhost is a secure context for getUserMedia.
    handler = functools.partial(_QuietHandler, directory=str(HERE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/chromium_peer.html"
    finally:
        server.shutdown()
        server.server_close()


def _delta(end: dict, start: dict, key: str) -> float:
    return float(end.get(key, 0) or 0) - float(start.get(key, 0) or 0)


def _chrome_figures(start: dict, end: dict, measured_s: float) -> dict:
    """getStats differences between the end of warm-up and the end of the run (receiver B)."""
    v0, v1 = start.get("inbound-rtp:video", {}), end.get("inbound-rtp:video", {})
    a0, a1 = start.get("inbound-rtp:audio", {}), end.get("inbound-rtp:audio", {})
    samples = _delta(a1, a0, "totalSamplesReceived")
    concealed = _delta(a1, a0, "concealedSamples")
    vjb_n, ajb_n = (
        _delta(v1, v0, "jitterBufferEmittedCount"),
        _delta(a1, a0, "jitterBufferEmittedCount"),
    )
    return {
        "chrome_fps": round(_delta(v1, v0, "framesDecoded") / measured_s, 1) if measured_s else 0,
        "chrome_frame": f"{v1.get('frameWidth', '-')}x{v1.get('frameHeight', '-')}",
        "chrome_freezes": int(_delta(v1, v0, "freezeCount")),
        "chrome_freeze_s": round(_delta(v1, v0, "totalFreezesDuration"), 1),
        "video_jitter_buffer_ms": round(1000 * _delta(v1, v0, "jitterBufferDelay") / vjb_n)
        if vjb_n
        else None,
        "audio_jitter_buffer_ms": round(1000 * _delta(a1, a0, "jitterBufferDelay") / ajb_n)
        if ajb_n
        else None,
        "audio_concealed_pct": round(100 * concealed / samples, 2) if samples else None,
        "audio_concealment_events": int(_delta(a1, a0, "concealmentEvents")),
        "audio_received_s": round((samples - concealed) / 48_000, 1),
        "audio_lost_ms": round(concealed / 48),
        "video_nacks_sent": int(_delta(v1, v0, "nackCount")),
        "video_fec_received": int(_delta(v1, v0, "fecPacketsReceived")),
    }


def run_one(link: str, duration: float) -> dict:
    """One Chromium↔Chromium call over ``link``; the figures as bench/call_links.py's dict."""
    from bench.call_links import LINKS, OUTAGE_S, _figures
    from tests.linkemu.profile import LinkProfile
    from tests.linkemu.udp import UdpLinkEmulator

    binary = chromium_binary()
    if binary is None:
        return {"mode": "chromium", "link": link, "error": "chromium is not installed"}

    async def main(url: str) -> dict:
        emu = UdpLinkEmulator(LinkProfile(seed=7, **LINKS[link]), host=host_address())
        a, b = _Browser(binary, url), _Browser(binary, url)
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
            outage, warm_stats = None, None
            while time.time() - t0 < duration:
                await asyncio.sleep(0.5)
                if warm_stats is None and time.time() - t0 >= 5.0:
                    warm_stats = await pb.eval("peer.stats()")
                if (
                    link == "d"
                    and outage is None
                    and time.time() - t0 >= duration / 2 - OUTAGE_S / 2
                ):
                    emu.outage(OUTAGE_S)
                    outage = (time.time(), time.time() + OUTAGE_S)
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
        figures.update(_chrome_figures(warm_stats or {}, end_stats, measured))
        figures["rtt_ms"] = (
            round(1000 * pair["currentRoundTripTime"]) if "currentRoundTripTime" in pair else None
        )
        figures["page_errors"] = rx["log"][:3]
        if "audio_m2e_ms_median" in figures and m2e:
            figures["av_offset_ms"] = round(
                1000 * (statistics.median(rx["rx"]["latencies"] or [0]) - statistics.median(m2e))
            )
        return figures

    with _page_server() as url:
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
