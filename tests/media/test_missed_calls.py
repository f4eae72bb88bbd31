"""Missed calls are kept by the hub across a restart and told once."""

from __future__ import annotations

from pathlib import Path

from app.media.call import CallPhase
from tests.media.conftest import (
    C_LI,
    Client,
    async_loop,
    consultation_id,
    make_client,
    start_live_hub,
)


def _close(client: Client) -> None:
    async def stop() -> None:
        await client.controller.hangup()
        await client.signaling.stop()

    async_loop().submit(stop()).result(20)


def test_a_call_missed_while_offline_is_told_after_a_hub_restart(tmp_path: Path) -> None:
    hub = start_live_hub(tmp_path)
    try:
        doctor = make_client(hub, "doctor")
        doctor.run(doctor.controller.call(consultation_id(C_LI)))  # the cardiologist is offline
        doctor.wait_for(lambda: doctor.controller.phase is CallPhase.ended, what="unavailable")
        _close(doctor)
    finally:
        hub.stop()

    hub = start_live_hub(tmp_path, seed=False)  # the same data folder, a new process state
    try:
        cardiologist = make_client(hub, "specialist2")
        cardiologist.wait_for(
            lambda: any(e.kind == "missed" for e in cardiologist.events),
            what="the missed call in hello",
        )
        missed = [e.missed for e in cardiologist.events if e.kind == "missed"]
        assert len(missed) == 1 and missed[0].caller.display_name == "陈志强"
        assert missed[0].consultation_id == consultation_id(C_LI)
        _close(cardiologist)
        again = make_client(hub, "specialist2")  # told once, not at every sign-in
        assert again.run(again.signaling.wait_connected(10)).missed_calls == []
        _close(again)
    finally:
        hub.stop()
