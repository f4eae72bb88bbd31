"""A real hub on loopback (uvicorn thread, demo data) and real signed-in call clients."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from app.media.call import CallController, CallEvent, CallPhase
from app.media.engine import MediaConfig
from app.media.hub_signaling import HubSignaling
from app.media.ladder import rung_index
from app.media.loopback import use_loopback_candidates
from app.media.slots import LatestFrameSlot
from app.media.sources import SyntheticVideoTrack, ToneAudioTrack
from app.tasks import async_loop
from tests.support.hub_thread import serve_in_thread
from tests.support.wait import wait_until

C_LI = "c-li"  # doctor (clinic) ↔ specialist2 (cardiology); "specialist" is not a participant
C_ZHANG = "c-zhang"  # doctor ↔ specialist (radiology)


def consultation_id(name: str) -> str:
    from hub.demo import _id

    return str(_id(name))


@dataclass
class LiveHub:
    url: str
    app: object
    server: object
    thread: threading.Thread

    def token(self, username: str) -> str:
        from hub.demo import DEMO_PASSWORD

        r = httpx.post(
            f"{self.url}/api/v1/auth/login",
            json={"username": username, "password": DEMO_PASSWORD},
            timeout=10,
        )
        r.raise_for_status()
        return r.json()["access_token"]

    def stop(self) -> None:
        """Shut the hub down (as on SIGTERM)."""
        self.server.should_exit = True  # type: ignore[attr-defined]
        self.thread.join(10)


def start_live_hub(data: Path, seed: bool = True) -> LiveHub:
    """A hub on a free loopback port over ``data`` (demo data seeded unless ``seed`` is off:
    a restart over the same folder).

    In-process, not ``tests.support.hub_launcher``: the echo peer must use loopback ICE
    candidates (set for this process), and the fixtures wait on the hub's switchboard.
    """
    import uvicorn

    from hub.app import create_app
    from hub.config import HubConfig
    from hub.demo import seed_demo

    use_loopback_candidates()  # the echo peer (on the hub) and the clients: 127.0.0.1 only
    app = create_app(HubConfig(data_dir=data))
    if seed:
        seed_demo(app.state.hub)
    url, server, thread = serve_in_thread(
        uvicorn.Config(app, log_config=None, access_log=False, ws="websockets-sansio"),
        f"the hub over {data}",
    )
    return LiveHub(url, app, server, thread)


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    hub = start_live_hub(tmp_path_factory.mktemp("hub"))
    yield hub
    hub.stop()


@dataclass
class Client:
    """One signed-in user: signaling + call controller on the shared media loop."""

    username: str
    controller: CallController
    signaling: HubSignaling
    events: list[CallEvent] = field(default_factory=list)
    remote: LatestFrameSlot = field(default_factory=LatestFrameSlot)

    def phases(self) -> list[tuple[CallPhase | None, str]]:
        return [(e.phase, e.reason) for e in self.events if e.kind == "phase"]

    def run(self, coro, timeout: float = 20.0):  # noqa: ANN001, ANN201
        return async_loop().submit(coro).result(timeout)

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "") -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(
            f"{self.username}: timed out waiting for {what}; events: "
            f"{[(e.kind, e.phase, e.reason) for e in self.events][-12:]}"
        )


def make_client(
    hub: LiveHub,
    username: str,
    config: MediaConfig | None = None,
    size: tuple[int, int] = (160, 120),
) -> Client:
    token = hub.token(username)

    async def provide() -> str:
        return token

    async def build() -> Client:
        holder: dict[str, Client] = {}

        def listener(event: CallEvent) -> None:
            holder["c"].events.append(event)

        def sources():  # noqa: ANN202
            return SyntheticVideoTrack(*size, fps=10), ToneAudioTrack()

        remote = LatestFrameSlot()
        signaling = HubSignaling(
            hub.url,
            provide,
            lambda m: controller.on_hub_message(m),
            ssl_context=getattr(hub, "ssl_context", None),
        )
        cfg = config or MediaConfig(start_rung=rung_index("160x120@10"))
        controller = CallController(
            signaling, sources, listener, author=username, media_config=cfg, remote_slot=remote
        )
        client = Client(username, controller, signaling, remote=remote)
        holder["c"] = client
        signaling.start()
        await signaling.wait_connected(10)
        return client

    return async_loop().submit(build()).result(20)


@pytest.fixture
def clients(live_hub: LiveHub) -> Iterator[callable]:
    made: list[Client] = []

    def factory(username: str, config: MediaConfig | None = None) -> Client:
        client = make_client(live_hub, username, config)
        made.append(client)
        return client

    yield factory
    unfinished: list[str] = []
    for client in made:

        async def teardown(c: Client = client) -> None:
            # Each step bounded, and one that does not finish fails the test: hanging up
            # once hung after the 10 s outage test (the watchdog lost its cancellation,
            # tests/media/test_hangup_during_reconnect.py). The deadline only bounds a hang.
            steps = [("hang up", c.controller.hangup())]
            if c.controller.media is not None:
                steps.append(("close media", c.controller.media.close()))
            steps.append(("stop signaling", c.signaling.stop()))
            for what, step in steps:
                try:
                    await asyncio.wait_for(step, 30)
                except TimeoutError:
                    unfinished.append(f"{c.username}: {what}")

        async_loop().submit(teardown()).result(150)  # a deadline only
    # The next test starts once the hub has let go of these sockets (presence, calls). This
    # is hygiene between tests, not a check: on a loaded machine a socket may take longer to
    # go, and the next test's own waits cope with that.
    try:
        wait_until(
            lambda: (
                not getattr(getattr(live_hub.app, "state", None), "switchboard", None)
                or not live_hub.app.state.switchboard.local
            ),  # type: ignore[attr-defined]
            timeout=30,
            what="the hub to drop the test's sockets",
        )
    except AssertionError as exc:
        print(f"note: {exc}")
    assert not unfinished, f"did not finish within 30 s: {unfinished}"
