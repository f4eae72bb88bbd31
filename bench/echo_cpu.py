"""Hub CPU per echo test call: the hub's aiortc echo peer decodes and re-encodes each test
call's video and audio, so test calls cost hub CPU that ordinary calls (peer to peer) do not.

    .venv/bin/python bench/echo_cpu.py [--calls 2] [--seconds 20] [--size 320x240]

One real hub process (``python -m hub serve --seed-demo``, SQLite, loopback), then: the hub's
CPU over ``--seconds`` with its sockets connected and no call (the baseline, same run), then
with ``--calls`` test calls from real clients (``app.media`` CallController with a synthetic
camera at ``--size`` 10 fps and a tone, one demo user each: the hub allows 2 live test calls
per user). Prints hub CPU seconds per wall second per call (cores per echo call), the
clients' own CPU beside it, and the load average (a shared machine's other jobs steal time
from both). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.media.call import CallPhase  # noqa: E402
from app.media.engine import MediaConfig, MediaState  # noqa: E402
from app.media.ladder import rung_index  # noqa: E402
from app.media.loopback import use_loopback_candidates  # noqa: E402
from app.tasks import async_loop  # noqa: E402
from bench.hub_load import proc_usage  # noqa: E402
from tests.media.conftest import make_client  # noqa: E402
from tests.support.hub_launcher import HubLauncher  # noqa: E402

USERS = ["doctor", "specialist", "specialist2", "specialist3", "coordinator"]


class Hub:
    """What ``make_client`` needs of a hub: its URL and a sign-in."""

    def __init__(self, url: str) -> None:
        self.url = url

    def token(self, username: str) -> str:
        import httpx

        from hub.demo import DEMO_PASSWORD

        r = httpx.post(
            f"{self.url}/api/v1/auth/login",
            json={"username": username, "password": DEMO_PASSWORD},
            timeout=30,
        )
        r.raise_for_status()
        return r.json()["access_token"]


def window(pids: list[int], seconds: float) -> tuple[float, float, float]:
    """(hub CPU s, this process's CPU s, mean 1-min load) over ``seconds`` of wall time."""
    hub0, _ = proc_usage(pids)
    me0 = time.process_time()
    loads = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        loads.append(os.getloadavg()[0])
        time.sleep(1)
    hub1, _ = proc_usage(pids)
    return hub1 - hub0, time.process_time() - me0, sum(loads) / max(1, len(loads))


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--calls", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--size", default="320x240")
    args = p.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    n = max(1, min(args.calls, len(USERS)))
    use_loopback_candidates()
    print(f"load before: {os.getloadavg()}  (2-core machine shared with other jobs)")
    with tempfile.TemporaryDirectory() as tmp:
        launcher = HubLauncher(Path(tmp) / "hub", "--seed-demo", log_level="warning").start()
        hub = Hub(launcher.url)
        pids = [launcher.proc.pid]
        clients = []
        try:
            clients = [
                make_client(
                    hub, u, MediaConfig(start_rung=rung_index("320x240@15")), (width, height)
                )
                for u in USERS[:n]
            ]
            idle_hub, idle_me, idle_load = window(pids, args.seconds)
            for c in clients:
                c.run(c.controller.test_call())
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(
                c.controller.media is not None
                and c.controller.media.state is MediaState.connected
                and c.remote.take_newer(0) is not None
                for c in clients
            ):
                time.sleep(0.2)
            up = [c for c in clients if c.controller.phase is CallPhase.active]
            if len(up) != n:
                print(f"only {len(up)} of {n} test calls connected; figures are per connected call")
            time.sleep(3)  # past the start-up (key frames, bandwidth probing)
            busy_hub, busy_me, busy_load = window(pids, args.seconds)
        finally:
            for c in clients:

                async def stop(c=c) -> None:  # noqa: ANN001
                    await c.controller.hangup()
                    if c.controller.media is not None:
                        await c.controller.media.close()
                    await c.signaling.stop()

                async_loop().submit(stop()).result(30)
            launcher.stop()
    s = args.seconds
    per_call = (busy_hub - idle_hub) / s / max(1, len(up))
    print(f"\n=== echo test calls: {len(up)} × {width}x{height} 10 fps + audio, {s:.0f} s each ===")
    print(f"{'':34s} {'hub CPU (cores)':>16s} {'clients CPU':>12s} {'load avg':>9s}")
    print(f"{'baseline: sockets, no call':34s} {idle_hub / s:16.3f} {idle_me / s:12.3f} "
          f"{idle_load:9.1f}")  # fmt: skip
    print(f"{f'{len(up)} echo calls':34s} {busy_hub / s:16.3f} {busy_me / s:12.3f} "
          f"{busy_load:9.1f}")  # fmt: skip
    print(f"hub CPU per echo call: {per_call:.3f} cores ({per_call * 1000:.0f} ms per second)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
