"""Hanging up while the media is reconnecting ends the call and releases its peer.

CI once saw a hang-up after the 10 s outage test hang for more than 120 s. The cause: the
media watchdog, cancelled by ``MediaSession.close`` while it was building the next peer
connection, lost the cancellation inside ``TrackDrain.stop`` (which awaited the cancelled
drain task under ``suppress(CancelledError)``: the watchdog's own cancel was handed on to
the drain task and swallowed there), so it kept looping and ``close`` waited on it for ever,
while the reconnection it was in went on to open a new peer connection after the hang-up.
"""

from __future__ import annotations

import asyncio

from app.media.engine import MediaConfig, MediaEvent, MediaState
from app.media.ladder import rung_index
from app.media.loopback import use_loopback_candidates
from app.media.sources import SyntheticVideoTrack
from app.tasks import stop_task
from tests.support.memory_signaling import SignalingPair

DEADLINE_S = 20.0  # only bounds a hang: close takes well under a second


async def _until(what: str, predicate, timeout: float = DEADLINE_S) -> None:  # noqa: ANN001
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_hang_up_as_the_watchdog_starts_a_reconnection_ends_the_call() -> None:
    use_loopback_candidates()

    async def scenario() -> None:
        config = MediaConfig(
            start_rung=rung_index("160x120@10"), dead_after_s=0.5, retry_every_s=3.0
        )
        pair = SignalingPair()
        sent_after_close: list[str] = []
        hangup: dict[str, asyncio.Task[None]] = {}
        reconnecting_gen = []

        def on_event(event: MediaEvent) -> None:
            # Told synchronously by the watchdog just before it negotiates the next peer
            # connection: the user presses "hang up" at exactly that moment.
            if event.kind == "state" and event.state is MediaState.reconnecting and not hangup:
                reconnecting_gen.append(a.generation)
                hangup["task"] = asyncio.get_running_loop().create_task(a.close())

        send_a = pair.sender("a")

        async def a_sends(kind: str, session: int, sdp: str) -> None:
            if a.state is MediaState.ended:
                sent_after_close.append(kind)
            await send_a(kind, session, sdp)

        a, b = pair.sessions_for(config, a_send=a_sends, a_listener=on_event)
        await pair.start()
        await _until("the call's media", lambda: a.state is MediaState.connected)
        pair.up = False  # the far end is gone: a's watchdog starts reconnecting
        await b.close()
        await _until("the reconnection to start", lambda: "task" in hangup)

        done, _ = await asyncio.wait({hangup["task"]}, timeout=DEADLINE_S)
        assert done, "hanging up during a reconnection never finished"
        hangup["task"].result()
        assert a._watch_task is not None and a._watch_task.done()  # the watchdog ended
        assert a.generation is None  # no peer connection opened after the hang-up
        assert reconnecting_gen[0] is not None
        assert reconnecting_gen[0].pc.connectionState == "closed"
        assert sent_after_close == []  # and no offer went out for one
        assert a.state is MediaState.ended

    asyncio.run(scenario())


def test_a_hang_up_cancelled_part_way_is_finished_by_the_next_one() -> None:
    """The window closes while the call is hanging up (its close() is cancelled at its first
    wait): the release goes on, and a second close() returns only once the peer connection
    is closed and the camera and microphone are released."""
    use_loopback_candidates()

    async def scenario() -> None:
        pair = SignalingPair()
        a, b = pair.sessions_for(MediaConfig(start_rung=rung_index("160x120@10")))
        await pair.start()
        await _until("the call's media", lambda: a.state is MediaState.connected)
        pc = a.generation.pc
        first = asyncio.get_running_loop().create_task(a.close())
        await asyncio.sleep(0)  # one turn: the hang-up runs up to its first wait
        assert a.state is MediaState.ended and not first.done()
        first.cancel()
        await asyncio.wait({first}, timeout=DEADLINE_S)
        done, _ = await asyncio.wait({asyncio.ensure_future(a.close())}, timeout=DEADLINE_S)
        assert done, "the second hang-up never finished"
        assert pc.connectionState == "closed"
        assert a.video_source.readyState == "ended" and a.audio_source.readyState == "ended"
        await b.close()

    asyncio.run(scenario())


def test_stopping_a_task_keeps_the_callers_own_cancellation() -> None:
    """A task that catches CancelledError (as aioice's close does) must not eat the cancel
    of whoever is waiting for it to stop: that caller is often a loop (watchdog, signaling
    reader) which would otherwise run on for ever."""

    async def scenario() -> None:
        release = asyncio.Event()

        async def stubborn() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await release.wait()  # finishes its cleanup whenever it can

        child = asyncio.get_running_loop().create_task(stubborn())
        await asyncio.sleep(0)  # the child is waiting
        stopper = asyncio.get_running_loop().create_task(stop_task(child, 60, "the child"))
        await asyncio.sleep(0)  # the stopper has cancelled the child and waits for it
        stopper.cancel()
        release.set()
        await asyncio.wait({stopper}, timeout=DEADLINE_S)
        assert stopper.cancelled()
        await asyncio.wait({child}, timeout=DEADLINE_S)
        assert child.done()

    asyncio.run(scenario())


def test_stopping_a_task_that_will_not_end_gives_up_and_says_so(caplog) -> None:  # noqa: ANN001
    async def scenario() -> bool:
        refusing = [True]

        async def refuses() -> None:
            while refusing[0]:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    continue

        child = asyncio.get_running_loop().create_task(refuses())
        await asyncio.sleep(0)
        ended = await stop_task(child, 0.05, "the stubborn child")
        refusing[0] = False
        child.cancel()
        await asyncio.wait({child}, timeout=DEADLINE_S)
        return ended

    assert asyncio.run(scenario()) is False
    assert "the stubborn child did not end within" in caplog.text
    assert "refuses" in caplog.text  # where it was left waiting


def test_a_call_given_up_as_lost_releases_its_peer_and_the_camera() -> None:
    """The watchdog itself ends the media when the far end never comes back: ``close`` runs
    inside the watchdog, which cannot wait for itself; the peer and sources must still go."""
    use_loopback_candidates()

    async def scenario() -> None:
        config = MediaConfig(
            start_rung=rung_index("160x120@10"),
            dead_after_s=0.5,
            retry_every_s=0.5,
            give_up_after_s=1,
        )
        pair = SignalingPair()
        camera = SyntheticVideoTrack(160, 120, 10)
        a, b = pair.sessions_for(config, a_video=camera)
        await pair.start()
        await _until("the call's media", lambda: a.state is MediaState.connected)
        pair.up = False
        await b.close()
        await _until("the call given up", lambda: a.state is MediaState.ended)
        await _until("the watchdog to end", lambda: a._watch_task.done())
        assert a.generation is None  # the peer connection was closed, not left running
        assert camera.readyState == "ended"  # the camera was let go

    asyncio.run(scenario())
