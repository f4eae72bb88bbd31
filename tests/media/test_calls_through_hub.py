"""Two real clients (synthetic camera and microphone) call each other through a real hub."""

from __future__ import annotations

import time

from app.media.call import CallPhase
from app.media.engine import MediaConfig, MediaState
from app.media.ladder import rung_index
from app.media.pattern import read_stamp
from tests.linkemu.profile import LinkProfile
from tests.linkemu.udp import UdpLinkEmulator
from tests.media.conftest import C_LI, C_ZHANG, consultation_id


def _media_connected(client) -> bool:  # noqa: ANN001
    media = client.controller.media
    return media is not None and media.state is MediaState.connected


def _stamped_frames(client, count: int = 3) -> list[int]:  # noqa: ANN001
    """Read pattern counters from successive remote frames (proves real decoded video)."""
    seen, seq, deadline = [], 0, time.monotonic() + 10
    while len(seen) < count and time.monotonic() < deadline:
        frame = client.remote.take_newer(seq)
        if frame is not None:
            seq = frame.seq
            stamp = read_stamp(frame.rgb)
            if stamp is not None and stamp[0] not in seen:
                seen.append(stamp[0])
        time.sleep(0.05)
    return seen


def test_call_rings_connects_media_and_chat_then_hangs_up(clients, live_hub) -> None:  # noqa: ANN001
    doctor, cardiologist = clients("doctor"), clients("specialist2")
    doctor.run(doctor.controller.call(consultation_id(C_LI)))
    cardiologist.wait_for(
        lambda: cardiologist.controller.phase is CallPhase.incoming, what="ringing"
    )
    incoming = next(e.incoming for e in cardiologist.events if e.kind == "incoming")
    assert incoming.caller.display_name == "陈志强"
    cardiologist.run(cardiologist.controller.accept())
    for client in (doctor, cardiologist):
        client.wait_for(lambda c=client: _media_connected(c), what="media")
    counters = _stamped_frames(cardiologist)
    assert len(counters) >= 3 and counters == sorted(counters), counters
    assert len(_stamped_frames(doctor)) >= 3
    doctor.wait_for(
        lambda: (
            doctor.controller.media.generation.drains
            and any(d.audio.frames > 20 for d in doctor.controller.media.generation.drains)
        ),
        what="audio frames",
    )
    # Each end reports what it receives: the other's ladder sees the queue on its path.
    doctor.wait_for(
        lambda: doctor.controller.media.stats.queue_out_ms is not None,
        what="the far end's link feedback",
    )
    doctor.run(_send_chat(doctor, "请看第三张片子"))
    cardiologist.wait_for(
        lambda: any(
            e.kind == "media" and e.media.kind == "chat" and e.media.chat.text == "请看第三张片子"
            for e in cardiologist.events
        ),
        what="chat",
    )
    cardiologist.run(cardiologist.controller.hangup())
    doctor.wait_for(lambda: doctor.controller.phase is CallPhase.ended, what="ended")
    assert doctor.controller.end_reason == "hangup"
    assert cardiologist.controller.end_reason == "hangup_by_me"
    # the hub's audit trail holds the call: who rang about which consultation, who took it, end
    trail = _audit_of_call(live_hub, incoming.call_id)
    assert [a for a, _u, _d in trail] == ["call_started", "call_accepted", "call_ended"]
    assert trail[0][1] == "doctor" and trail[0][2] == consultation_id(C_LI)
    assert trail[1][1] == "specialist2"


def _audit_of_call(live_hub, call_id: str) -> list[tuple[str, str, str | None]]:  # noqa: ANN001
    import sqlalchemy as sa

    from hub import db as t

    with live_hub.app.state.hub.db.read() as conn:
        rows = conn.execute(
            sa.select(t.audit.c.action, t.audit.c.username, t.audit.c.doc_id)
            .where(t.audit.c.detail.contains(call_id))
            .order_by(t.audit.c.id)
        ).all()
    return [(r.action, r.username, r.doc_id) for r in rows]


async def _send_chat(client, text: str) -> None:  # noqa: ANN001
    client.controller.media.send_chat(text)


def test_decline_tells_the_caller(clients) -> None:  # noqa: ANN001
    doctor, cardiologist = clients("doctor"), clients("specialist2")
    doctor.run(doctor.controller.call(consultation_id(C_LI)))
    cardiologist.wait_for(
        lambda: cardiologist.controller.phase is CallPhase.incoming, what="ringing"
    )
    cardiologist.run(cardiologist.controller.decline())
    doctor.wait_for(lambda: doctor.controller.phase is CallPhase.ended, what="declined")
    assert doctor.controller.end_reason == "declined"
    assert doctor.controller.media is None  # no media was ever started


def test_cancel_while_ringing_leaves_a_missed_call(clients) -> None:  # noqa: ANN001
    doctor, cardiologist = clients("doctor"), clients("specialist2")
    doctor.run(doctor.controller.call(consultation_id(C_LI)))
    cardiologist.wait_for(
        lambda: cardiologist.controller.phase is CallPhase.incoming, what="ringing"
    )
    doctor.run(doctor.controller.cancel())
    cardiologist.wait_for(
        lambda: cardiologist.controller.phase is CallPhase.ended, what="cancelled"
    )
    assert cardiologist.controller.end_reason == "cancelled"
    cardiologist.wait_for(
        lambda: any(e.kind == "missed" for e in cardiologist.events), what="missed"
    )
    missed = next(e.missed for e in cardiologist.events if e.kind == "missed")
    assert missed.caller.display_name == "陈志强"
    assert missed.consultation_id == consultation_id(C_LI)


def test_busy_when_the_callee_is_in_another_call(clients) -> None:  # noqa: ANN001
    doctor, cardiologist, radiologist = (
        clients("doctor"),
        clients("specialist2"),
        clients("specialist"),
    )
    doctor.run(doctor.controller.call(consultation_id(C_LI)))
    cardiologist.wait_for(
        lambda: cardiologist.controller.phase is CallPhase.incoming, what="ringing"
    )
    cardiologist.run(cardiologist.controller.accept())
    radiologist.run(radiologist.controller.call(consultation_id(C_ZHANG)))
    radiologist.wait_for(lambda: radiologist.controller.phase is CallPhase.ended, what="busy")
    assert radiologist.controller.end_reason == "busy"


def test_a_caller_who_is_not_a_participant_is_refused(clients) -> None:  # noqa: ANN001
    radiologist, cardiologist = clients("specialist"), clients("specialist2")
    radiologist.run(radiologist.controller.call(consultation_id(C_LI)))
    radiologist.wait_for(lambda: radiologist.controller.phase is CallPhase.ended, what="refusal")
    assert radiologist.controller.end_reason == "not_participant"
    # The hub handled the refused call before this one, and writes to the cardiologist's
    # socket in order: once the doctor's call rings, a ring from the refused call would be in.
    doctor = clients("doctor")
    doctor.run(doctor.controller.call(consultation_id(C_LI)))
    cardiologist.wait_for(
        lambda: cardiologist.controller.phase is CallPhase.incoming, what="the doctor's call"
    )
    callers = [e.incoming.caller.display_name for e in cardiologist.events if e.kind == "incoming"]
    assert callers == ["陈志强"]  # only the doctor's call rang


def test_unauthenticated_socket_is_refused(live_hub) -> None:  # noqa: ANN001
    import asyncio

    from app.media.hub_signaling import HubSignaling

    async def attempt() -> str | None:
        async def bad_token() -> str:
            return "not-a-token"

        signaling = HubSignaling(live_hub.url, bad_token, lambda m: None)
        signaling.start()
        for _ in range(40):
            if signaling.refused:
                break
            await asyncio.sleep(0.05)
        await signaling.stop()
        return signaling.refused

    assert asyncio.run(attempt()) is not None


def test_media_reconnects_after_a_10_s_outage_and_the_call_stays(clients) -> None:  # noqa: ANN001
    with UdpLinkEmulator(LinkProfile(latency_ms=40)) as emu:
        config = MediaConfig(
            start_rung=rung_index("160x120@10"),
            sdp_rewriter=emu.rewrite_sdp,
            dead_after_s=3.0,
            retry_every_s=3.0,
        )
        doctor, cardiologist = clients("doctor", config), clients("specialist2", config)
        doctor.run(doctor.controller.call(consultation_id(C_LI)))
        cardiologist.wait_for(
            lambda: cardiologist.controller.phase is CallPhase.incoming, what="ring"
        )
        cardiologist.run(cardiologist.controller.accept())
        for client in (doctor, cardiologist):
            client.wait_for(lambda c=client: _media_connected(c), what="media")
        first_session = doctor.controller.media.session
        emu.outage(10)
        for client in (doctor, cardiologist):
            client.wait_for(
                lambda c=client: c.controller.media.state is MediaState.reconnecting,
                timeout=8,
                what="reconnecting",
            )
        # How soon media is back after the link returns is a timing: bench/, not here.
        doctor.wait_for(lambda: not emu.down, timeout=30, what="the link back")
        for client in (doctor, cardiologist):
            client.wait_for(lambda c=client: _media_connected(c), timeout=30, what="media back")
        assert doctor.controller.phase is CallPhase.active  # the call never ended
        assert doctor.controller.media.session > first_session  # a new peer connection
        assert len(_stamped_frames(cardiologist)) >= 2  # video flows again


def test_test_call_echoes_my_own_video(clients) -> None:  # noqa: ANN001
    doctor = clients("doctor")
    doctor.run(doctor.controller.test_call())
    doctor.wait_for(lambda: _media_connected(doctor), what="echo media")
    assert len(_stamped_frames(doctor)) >= 3  # our own pattern, decoded after the round trip

    def audio_back() -> int:
        gen = doctor.controller.media.generation
        return sum(d.audio.frames for d in gen.drains) if gen else 0

    doctor.wait_for(lambda: audio_back() > 10, what="our tone echoed back")
    # Our own link feedback is not reflected: it would pass for the echo's view of our path.
    # Two sent a second apart: the first would have come back long before the third leaves.
    messaging = doctor.controller.media.messaging
    doctor.wait_for(lambda: messaging.feedback_sent >= 3, timeout=30, what="our feedback sent")
    assert messaging.far_feedback is None
    assert doctor.controller.media.stats.queue_out_ms is None
    doctor.run(doctor.controller.hangup())
    assert doctor.controller.phase is CallPhase.ended


def test_echo_answers_with_loopback_candidates_only_to_a_loopback_caller() -> None:
    from hub.signaling.echo import offers_only_loopback

    loopback = "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"
    lan = "a=candidate:2 1 udp 2130706431 192.0.2.7 50001 typ host\r\n"
    assert offers_only_loopback("v=0\r\n" + loopback)
    assert not offers_only_loopback("v=0\r\n" + loopback + lan)
    assert not offers_only_loopback("v=0\r\n")  # no candidates: gather normally
