"""Signals that arrive twice (one app that had two hub sockets: the hub sends every call
message to each) must not keep media from coming up: the two-client soak under stress-ng
failed so, each side answering every offer twice and checking ICE against the replaced
peer connection, new session every 5 s, never connected."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from app.context import AppContext
from app.media.engine import MediaConfig, MediaState
from app.media.ladder import START_RUNG
from app.media.loopback import use_loopback_candidates
from tests.support.memory_signaling import SignalingPair


def test_a_call_whose_signals_all_arrive_twice_connects_on_its_first_session() -> None:
    use_loopback_candidates()

    async def call() -> tuple[MediaState, int, int]:
        pair = SignalingPair(delay_s=0.01)
        pair.copies = 2
        a, b = pair.sessions_for(MediaConfig(start_rung=START_RUNG), fps=5)
        await pair.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b.state is not MediaState.connected:
            await asyncio.sleep(0.1)
        result = (b.state, a.session, b.session)
        await a.close()
        await b.close()
        return result

    state, a_session, b_session = asyncio.run(call())
    assert state is MediaState.connected
    assert (a_session, b_session) == (1, 1)  # no renegotiation was needed


def test_the_call_service_connects_once_however_often_it_is_started(
    qtbot,  # noqa: ANN001, ARG001 - a QApplication for the service's QObject
    settings,  # noqa: ANN001
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.tasks import async_loop
    from app.ui.bridge import run_async
    from app.ui.call import service as service_module

    made: list[object] = []

    class CountedSignaling:
        def __init__(self, *_args: object, **_kwargs: object) -> None:
            made.append(self)
            self.refused = None

        def start(self) -> None:
            pass

        async def stop(self) -> None:
            pass

    monkeypatch.setattr(service_module, "HubSignaling", CountedSignaling)

    def started_with_the_loop_held(times: int, stop_first: bool = False) -> int:
        made.clear()
        context = AppContext(
            settings=settings,
            hub_url="https://127.0.0.1:9",
            services={"hub_client": SimpleNamespace(ssl_context=None, tokens=None)},
        )
        service = service_module.CallService(context)
        gate = threading.Event()
        async_loop().loop.call_soon_threadsafe(gate.wait, 10.0)  # the loop is busy (load)
        for _ in range(times):  # the sign-in and the Call page both start it
            service.start()
        if stop_first:
            service.stop()  # signed out before the connection was made
        gate.set()

        async def nothing() -> None:
            pass

        run_async(nothing()).result(10)  # everything scheduled before has run
        service.stop()
        return len(made)

    assert started_with_the_loop_held(3) == 1
    assert started_with_the_loop_held(1, stop_first=True) == 0
