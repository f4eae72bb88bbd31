"""How fast the client notices the hub going away and coming back.

    .venv/bin/python bench/hub_link.py [--rounds 3]

A real hub child process on loopback; the client side is what the app runs: ``HubLink`` fed
by the signaling WebSocket (``HubSignaling``) and by health probes on the link's own schedule
(1 s offline, 20 s while the WebSocket is up). Each round stops the hub (SIGTERM) and starts it
again on the same port; printed: seconds from stop to "offline" and from "ready" to "online",
beside the previous design measured in the same run (a health poll every 20 s and nothing else).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.media.hub_signaling import HubSignaling  # noqa: E402
from app.sync.errors import HubError  # noqa: E402
from app.sync.hub_client import HubClient  # noqa: E402
from app.sync.link import OFFLINE, ONLINE, HubLink  # noqa: E402
from tests.sync.hub_harness import PASSWORD, HubProcess  # noqa: E402


class Watcher:
    """The client side: probes on a schedule, optionally a WebSocket feeding the link."""

    def __init__(self, url: str, fixed_poll_s: float | None) -> None:
        self.link = HubLink()
        self.url = url
        self.fixed = fixed_poll_s
        self.stop = threading.Event()
        self.wake = threading.Event()
        # As the app's timer does: a change of state reschedules the next probe at once.
        self.link.on_change(lambda _state: self.wake.set())
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._probe_loop, daemon=True).start()
        if fixed_poll_s is None:
            threading.Thread(target=self.loop.run_forever, daemon=True).start()
            asyncio.run_coroutine_threadsafe(self._signaling(), self.loop)

    async def _signaling(self) -> None:
        async def token() -> str:
            client = HubClient(self.url, timeout=3)
            return (await asyncio.to_thread(client.login, "doc1", PASSWORD)).access_token

        def up(is_up: bool) -> None:
            self.link.websocket(is_up)

        sig = HubSignaling(self.url, token, lambda m: None, up)
        sig.start()

    def _probe_loop(self) -> None:
        client = HubClient(self.url, timeout=3)
        client.on_link = lambda ok: self.link.report(ok, "probe")
        while not self.stop.is_set():
            try:
                client.health()
            except HubError:
                pass
            self.wake.wait(self.fixed or self.link.probe_interval())
            self.wake.clear()


def wait_for(link: HubLink, state: str, timeout: float = 120.0) -> float:
    start = time.monotonic()
    while link.state != state:
        if time.monotonic() - start > timeout:
            raise TimeoutError(state)
        time.sleep(0.01)
    return time.monotonic() - start


def measure(hub: HubProcess, fixed: float | None, rounds: int) -> tuple[list[float], list[float]]:
    watcher = Watcher(hub.url, fixed)
    wait_for(watcher.link, ONLINE)
    if fixed is None:
        deadline = time.monotonic() + 30
        while not watcher.link.websocket_up and time.monotonic() < deadline:
            time.sleep(0.05)
    gone, back = [], []
    for _ in range(rounds):
        time.sleep(1.0 + (time.monotonic() % 1.0) * 5)  # a random phase against the poll
        stopped = time.monotonic()
        hub.stop()
        wait_for(watcher.link, OFFLINE)
        gone.append(time.monotonic() - stopped)
        hub.start()
        ready = time.monotonic()
        wait_for(watcher.link, ONLINE)
        back.append(time.monotonic() - ready)
        if fixed is None:
            while not watcher.link.websocket_up and time.monotonic() - ready < 30:
                time.sleep(0.05)
    watcher.stop.set()
    return gone, back


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hub = HubProcess(Path(tmp) / "hub").start()
        try:
            for name, fixed in (
                ("now: WebSocket + adaptive probes", None),
                ("before: 20 s poll", 20.0),
            ):
                gone, back = measure(hub, fixed, args.rounds)
                print(
                    f"{name:34s} offline after {statistics.median(gone):5.2f} s "
                    f"(max {max(gone):5.2f}); online after {statistics.median(back):5.2f} s "
                    f"(max {max(back):5.2f})",
                    flush=True,
                )
        finally:
            hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
