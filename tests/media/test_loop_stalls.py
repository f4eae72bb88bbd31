"""A starved CPU is not a network queue: the ladder keeps video through media-loop stalls,
and still backs off a real bottleneck (docs/calls.md, "CPU starvation").

Simulated on an injected clock, in 10 ms steps: the sender sends on time, packets cross the
wire (150 ms one way, plus the bottleneck's queue when it has one), and the receiving loop
reads them — except while it is stalled (200–700 ms with 0.3–0.6 s between, as traced
beside ``stress-ng --cpu 2``), after which it reads the backlog in one burst. Its ``LoopLag`` ticks only while
it runs; its feedback goes to the sender's ladder once a second, late after a stall too.
"""

from __future__ import annotations

import random
import time

from aiortc.rtp import RtpPacket

from app.media.arrival import PACKET_OVERHEAD_BYTES, ArrivalMeter, LinkFeedback
from app.media.ladder import AUDIO_ONLY, CPU_FLOOR_RUNG, LADDER, LadderController, rung_index
from app.media.loop_lag import TICK_S, LoopLag
from app.media.messaging import CallMessaging
from app.protocol.datachannel import MediaFeedback, encode_message

STEP = 0.01
ONE_WAY_S = 0.15
PACKET_S = 0.02


def _packet(seq: int, sent: float, size: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=seq % 65536, timestamp=int(sent * 48000))
    packet.ssrc = 4321
    packet.payload = b"x" * max(10, size)
    return packet


def _call(
    ladder: LadderController,
    meter: ArrivalMeter,
    lag: LoopLag | None,
    seconds: int,
    capacity_bps: float | None = None,
    stalls: bool = True,
) -> tuple[list[int], list[float]]:
    """Run the simulated call; the rung and estimate after each second's feedback."""
    rng = random.Random(14)
    wire: list[tuple[float, RtpPacket]] = []  # (reaches the socket, packet)
    sending_bps = ladder.estimate
    queue_s = 0.0
    seq = 0
    stall_until, next_stall = 0.0, 0.5
    next_tick, next_feedback, next_send = 0.0, 1.0, 0.0
    rungs: list[int] = []
    estimates: list[float] = []
    for step in range(int(seconds / STEP)):
        now = step * STEP
        # Sender (its own loop runs freely): one packet per 20 ms at the ladder's rate.
        while next_send <= now:
            if capacity_bps is not None:
                queue_s = min(
                    0.4, max(0.0, queue_s + (sending_bps - capacity_bps) / capacity_bps * PACKET_S)
                )
            size = int(sending_bps * PACKET_S / 8) - PACKET_OVERHEAD_BYTES
            wire.append((next_send + ONE_WAY_S + queue_s, _packet(seq, next_send, size)))
            seq += 1
            next_send += PACKET_S
        # Receiver's loop: stalled, or reading what reached the socket, ticking, reporting.
        if stalls and now >= next_stall:
            stall_until = now + rng.uniform(0.2, 0.7)
            next_stall = stall_until + rng.uniform(0.3, 0.6)
        if now < stall_until:
            continue
        while wire and wire[0][0] <= now:
            _, packet = wire.pop(0)
            meter.add("audio", packet, now)
        if lag is not None and now >= next_tick:
            lag.tick(now)
            next_tick = now + TICK_S
        if now >= next_feedback:
            next_feedback += 1.0
            feedback = meter.feedback(now)
            d = ladder.update(now, None, 0.0, 2 * ONE_WAY_S + queue_s, None, None, feedback)
            sending_bps = d.video_bps / 0.9 + ladder.audio_total_bps(d.estimate_bps)
            rungs.append(d.rung)
            estimates.append(d.estimate_bps)
    return rungs, estimates


def test_loop_stalls_on_the_receiving_pc_do_not_send_the_call_to_audio_only() -> None:
    # A 200 kbit/s link. What the code before LoopLag did with the same stalls (the meter reads every late
    # packet's delay): a "queue" that cuts to 0.85 × received again and again.
    blind = LadderController(start_rung=rung_index("160x120@9"), start_estimate_bps=90_000)
    rungs, estimates = _call(blind, ArrivalMeter(), None, 60, capacity_bps=200_000)
    assert AUDIO_ONLY in rungs[-10:] and max(estimates[-10:]) < 40_000  # the scenario is the bug

    lag = LoopLag()
    ladder = LadderController(start_rung=rung_index("160x120@9"), start_estimate_bps=90_000)
    rungs, estimates = _call(ladder, ArrivalMeter(lag), lag, 60, capacity_bps=200_000)
    assert lag.stalls, "the loop's stalls were seen"
    assert AUDIO_ONLY not in rungs
    assert min(estimates) >= 90_000  # held (or grown towards the link), not cut to the noise
    assert all(r <= CPU_FLOOR_RUNG for r in rungs[5:])


def test_a_real_bottleneck_is_still_backed_off_through_the_stalls() -> None:
    # 160 kbit/s of capacity, the sender starts well above it: the queue on the wire grows
    # past any stall, so the estimate comes down to what the link carries.
    lag = LoopLag()
    ladder = LadderController(start_rung=rung_index("320x240@15"), start_estimate_bps=300_000)
    _, estimates = _call(ladder, ArrivalMeter(lag), lag, 30, capacity_bps=160_000)
    assert min(estimates[:10]) < 160_000
    assert sum(estimates[10:]) / len(estimates[10:]) < 180_000


def test_a_quiet_loop_sees_no_stall_and_the_queue_rule_is_unchanged() -> None:
    lag = LoopLag()
    ladder = LadderController(start_rung=rung_index("320x240@15"), start_estimate_bps=300_000)
    _, estimates = _call(ladder, ArrivalMeter(lag), lag, 30, capacity_bps=160_000, stalls=False)
    assert not lag.stalls
    assert min(estimates[:10]) < 160_000


def test_a_starved_loop_sheds_pixels_not_bits() -> None:
    ladder = LadderController(start_rung=rung_index("480x360@15"), start_estimate_bps=400_000)
    feedback = None
    for t in range(40):
        d = ladder.update(float(t), None, 0.0, 0.1, None, None, feedback, cpu_busy=0.7)
    assert LADDER[d.rung].width < 480  # fewer pixels while the CPU cannot keep up
    assert d.rung <= CPU_FLOOR_RUNG and d.estimate_bps >= 400_000  # but video and its bits stay
    for t in range(40, 80):  # the CPU is free again: the cap goes and the ladder climbs
        d = ladder.update(float(t), None, 0.0, 0.1, None, None, feedback, cpu_busy=0.0)
    assert ladder.cpu_cap is None and d.rung <= rung_index("480x360@15")


def test_loop_lag_marks_reads_during_and_just_after_a_stall() -> None:
    lag = LoopLag()
    for k in range(10):
        lag.tick(k * TICK_S)
    assert not lag.suspect(0.18)
    assert lag.suspect(0.40)  # not ticked since 0.18: the loop is away
    lag.tick(0.50)  # back: a stall from 0.20 to 0.50
    assert lag.stalls[-1] == (0.18 + TICK_S, 0.50)
    for k in range(1, 15):
        lag.tick(0.50 + k * TICK_S)
    assert lag.suspect(0.52) and not lag.suspect(0.75)
    assert abs(lag.longest_s(0.6, 1.0) - 0.30) < 1e-9


def test_the_far_ends_stall_travels_beside_its_feedback() -> None:
    class Channel:
        readyState = "open"

        def __init__(self) -> None:
            self.sent: list[str] = []

        def send(self, text: str) -> None:
            self.sent.append(text)

    ours = CallMessaging("a", lambda _m: None, lambda _r: None)
    ours.attach(channel := Channel())
    ours.send_feedback(80_000, 120.0, 0.0)
    ours.send_feedback(80_000, 120.0, 300.0)
    assert len(channel.sent) == 3  # a stall-free second adds nothing for older peers

    theirs = CallMessaging("b", lambda _m: None, lambda _r: None)
    for text in channel.sent:
        theirs.on_data(text)
    assert theirs.fresh_feedback(time.monotonic()) == LinkFeedback(80_000, 120.0, 300.0)
    theirs.on_data(encode_message(MediaFeedback(recv_bps=90_000, queue_ms=10.0)))
    later = time.monotonic() + 0.6  # a feedback without its stall message: no stall
    theirs.far_feedback = (later, theirs.far_feedback[1])  # type: ignore[index]
    assert theirs.fresh_feedback(later) == LinkFeedback(90_000, 10.0, 0.0)


def test_in_a_stalled_second_a_queue_reading_must_be_new_and_seen_twice() -> None:
    ladder = LadderController(start_rung=rung_index("320x240@15"), start_estimate_bps=180_000)
    ladder.update(0.0, None, 0.0, 0.5, None, None, LinkFeedback(150_000, 40.0))
    full = LinkFeedback(60_000, 161.0, 200.0)  # read by a loop that stalled 200 ms
    for t in (1.0, 2.0):  # the same feedback, reused while no newer one came
        d = ladder.update(t, None, 0.0, 0.5, None, None, full, own_stall_ms=200.0)
    assert d.estimate_bps >= 170_000
    again = LinkFeedback(62_000, 175.0, 200.0)  # a second reading: a queue after all
    d = ladder.update(3.0, None, 0.0, 0.5, None, None, again, own_stall_ms=200.0)
    # Cut, but by at most 30 %: the received rate was counted through the stalls.
    assert 0.7 * 170_000 <= d.estimate_bps < 170_000
