"""Headless Chromium as a call peer, driven over the DevTools protocol (tests and bench).

Debian's ``chromium``, one process per peer with a fresh profile and fake media permission
(granting it makes Chrome put real addresses, not mDNS names, in its host candidates).
``chromium_peer.html`` (next to this module, served from 127.0.0.1) holds the peer: our test
pattern and tone as its media, measurements of what it receives; Python calls its
functions with ``Page.eval``. Chrome gathers host candidates on the LAN address, never on
loopback: put a ``UdpLinkEmulator(host=host_address())`` between it and the other peer and
pass every SDP through ``rewrite_sdp(keep_udp_candidates(sdp))``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

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


class Page:
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


class Browser:
    """One headless Chromium process with a fresh profile, on ``url``."""

    def __init__(self, binary: str, url: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="yiqiao-chromium-")
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = url

    async def page(self) -> tuple[object, Page]:
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
                                page = Page(ws)
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
def page_server():
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
