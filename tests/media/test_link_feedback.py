"""The receiver's view of the link (queue, received rate) and how the ladder uses it."""

from __future__ import annotations

from aiortc.rtp import RtpPacket

from app.media.arrival import ArrivalMeter, LinkFeedback
from app.media.ladder import LADDER, LadderController, rung_index


def _audio(seq: int, ts: int, size: int = 100) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=seq % 65536, timestamp=ts % (1 << 32))
    packet.ssrc = 1234
    packet.payload = b"x" * size
    return packet


def test_the_meter_reads_the_queue_whatever_the_clocks_and_counts_bytes() -> None:
    meter = ArrivalMeter()
    origin = 0xFFFF_F000  # the RTP clock wraps during the test; the sender's clock is unknown
    arrivals = []
    for n in range(500):  # 20 s of 40 ms packets: 10 s clear, then a queue grows to 400 ms
        sent = n * 0.040
        queue = 0.0 if sent < 10 else min(0.4, (sent - 10) * 0.1)
        arrival = 1000.0 + sent + 0.150 + queue  # 150 ms of propagation
        arrivals.append(arrival)
        meter.add("audio", _audio(n, origin + n * 1920), arrival)
        if n == 240:
            clear = meter.feedback(arrival)
    assert clear.queue_ms is not None and clear.queue_ms < 5
    assert 140 * 8 * 24 <= clear.recv_bps <= 160 * 8 * 26  # 25 packets of 100 + 60 bytes a second
    full = meter.feedback(arrivals[-1])
    assert full.queue_ms is not None and 350 < full.queue_ms < 450


def _video(seq: int, frame: int, sent_s: float) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=seq % 65536, timestamp=frame * 6000)
    packet.ssrc = 99
    packet.payload = b"v" * 1000
    packet.extensions.abs_send_time = int(sent_s * (1 << 18)) % (1 << 24)  # wraps at 64 s
    return packet


def test_video_send_times_rule_and_a_microphone_glitch_is_not_a_queue() -> None:
    meter = ArrivalMeter()
    seq = 0
    for n in range(15 * 80):  # 80 s at 15 fps, 3 packets a frame; the 64 s wrap included
        sent = 10.0 + n / 15
        for k in range(3):  # a frame's packets leave together and drain at the link rate
            meter.add("video", _video(seq, n, sent + 0.001 * k), sent + 0.1 + 0.03 * k)
            seq += 1
        # The sending PC's microphone lost 300 ms of samples at 40 s: audio timestamps lag.
        if n % 3 == 0:
            lag = 0.3 if sent > 40 else 0.0
            meter.add("audio", _audio(n // 3, int((sent - lag) * 48000)), sent + 0.1)
    feedback = meter.feedback(10.0 + 80 + 0.1)
    assert feedback.queue_ms is not None and feedback.queue_ms < 5  # no queue, no glitch


def test_a_retransmission_is_counted_but_not_taken_for_a_queue() -> None:
    meter = ArrivalMeter()
    for n in range(50):
        meter.add("audio", _audio(n, n * 1920), 10.0 + n * 0.04)
    # Packet 10 again, 1.5 s after it was first sent: its RTP time is old.
    meter.add("audio", _audio(10, 10 * 1920), 10.0 + 50 * 0.04)
    feedback = meter.feedback(10.0 + 50 * 0.04)
    assert feedback.queue_ms is not None and feedback.queue_ms < 5


def _link(
    ladder: LadderController, seconds: int, capacity: float, t0: float = 0.0, loss: float = 0.03
) -> tuple[list[int], list[float]]:
    """A bottleneck with a 400 ms drop-tail queue and random loss; the far end reports."""
    queue_s, rungs, queues = 0.0, [], []
    feedback: LinkFeedback | None = None
    for t in range(seconds):
        d = ladder.update(t0 + t, None, loss, 0.3 + queue_s, None, None, feedback)
        sending = d.video_bps / 0.9 + ladder.audio_total_bps(d.estimate_bps)
        queue_s = min(0.4, max(0.0, queue_s + (sending - capacity) / capacity))
        feedback = LinkFeedback(recv_bps=int(min(sending, capacity)), queue_ms=queue_s * 1000)
        rungs.append(d.rung)
        queues.append(queue_s)
    return rungs, queues


def test_the_ladder_settles_below_a_queue_and_stops_pushing_into_it() -> None:
    ladder = LadderController()
    rungs, queues = _link(ladder, 90, capacity=240_000)  # link b's 256 kbit/s less overheads
    assert LADDER[rungs[15]].width >= 320  # the far end's "no queue" lets the start climb fast
    assert all(LADDER[r].width >= 320 for r in rungs[15:])
    # After the first time it filled the queue it stays close to the link, not in a sawtooth.
    fills = sum(1 for a, b in zip(queues[20:], queues[21:], strict=False) if b > 0.1 >= a)
    assert fills <= 2, queues
    assert sum(queues[30:]) / len(queues[30:]) < 0.1


def test_remb_dips_are_ignored_while_the_far_end_sees_no_queue() -> None:
    ladder = LadderController(start_rung=rung_index("320x240@15"), start_estimate_bps=260_000)
    clear = LinkFeedback(recv_bps=200_000, queue_ms=5.0)
    for t in range(10):  # aiortc's REMB after each keyframe: far below what goes through
        d = ladder.update(
            t,
            80_000 - t * 1000,
            0.03,
            0.3,
            video_sent_bps=180_000,
            sent_bps=230_000,
            feedback=clear,
        )
    assert d.rung <= 1 and d.estimate_bps >= 250_000  # not cut to REMB's 70–80 kbit/s


def test_the_first_climb_stops_at_a_queue_that_grows_not_at_a_full_one() -> None:
    """Feedback is a second old when it arrives, and the first climb adds 15 % a second:
    link b's queue read 21 → 60 → 171 ms while the estimate ran to 1.3× the link. A
    queue growing past 40 ms ends the climb (cut to 0.85 × received) at once."""
    ladder = LadderController(start_estimate_bps=250_000)
    for t, queue in enumerate((10.0, 21.0)):
        ladder.update(float(t), None, 0.0, 0.3, None, None, LinkFeedback(240_000, queue))
    assert ladder.startup
    d = ladder.update(2.0, None, 0.0, 0.3, None, None, LinkFeedback(240_000, 60.0))
    assert not ladder.startup and d.estimate_bps <= 0.85 * 240_000 + 1
    # Later, a standing queue of the same size is no reason to cut.
    later = LadderController(start_estimate_bps=250_000)
    later.startup = False
    for t, queue in enumerate((10.0, 21.0)):
        later.update(float(t), None, 0.0, 0.3, None, None, LinkFeedback(240_000, queue))
    held = later.estimate
    d = later.update(2.0, None, 0.0, 0.3, None, None, LinkFeedback(240_000, 60.0))
    assert d.estimate_bps >= held
