"""Received audio survives lost packets: redundancy copy, FEC, concealment (real libopus)."""

from __future__ import annotations

import numpy as np
import pytest
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterFrame
from av import AudioFrame

from app.media.audio_redundancy import attach_previous, previous_copy
from app.media.lowband import SendControl
from app.media.opus_native import NativeOpusDecoder, load_libopus
from tests.media.opus_packets import RATE, encode_packets, receive_packets

pytestmark = pytest.mark.skipif(load_libopus() is None, reason="no libopus library")


def _tone_packets(seconds: float, redundancy: bool, bps: int = 16_000) -> list[tuple[int, bytes]]:
    t = np.arange(int(RATE * seconds)) / RATE
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    return encode_packets(samples, SendControl(audio_bps=bps, audio_redundancy=redundancy))


def _timeline_holes_ms(frames: list[AudioFrame]) -> float:
    expected, missing = 0, 0
    for frame in frames:
        missing += max(0, frame.pts - expected)
        expected = frame.pts + frame.samples
    return missing * 1000 / RATE


def test_padded_packets_still_decode_in_a_stock_receiver() -> None:
    packets = _tone_packets(1.0, redundancy=True)
    assert all(previous_copy(p) is not None for _, p in packets[1:])
    assert previous_copy(packets[1][1]) == _tone_packets(1.0, redundancy=False)[0][1]
    stock = OpusDecoder()  # aiortc's FFmpeg decoder: ignores the padding
    samples = sum(f.samples for ts, p in packets for f in stock.decode(JitterFrame(p, ts)))
    assert samples == len(packets) * 1920
    assert attach_previous(packets[0][1], None) == packets[0][1]
    assert previous_copy(b"\x00garbage-YQ") is None


def test_every_single_loss_is_rebuilt_from_the_next_packets_copy() -> None:
    packets = _tone_packets(4.0, redundancy=True)
    lost = set(range(5, len(packets) - 1, 7))  # ~14 % loss, never two in a row
    frames, buffer = receive_packets(packets, lost)
    assert buffer.counters.recovered_copy == len(lost)
    assert not [f for f in frames if f.opaque == "plc"]
    assert _timeline_holes_ms(frames) == 0
    # The rebuilt audio is the real thing, not a guess: it matches a lossless decode.
    clean, _ = receive_packets(packets, set())
    by_pts = {f.pts: f.to_ndarray() for f in clean}
    for frame in frames:
        if frame.opaque == "copy":
            ref = by_pts[frame.pts].astype(float)
            err = frame.to_ndarray().astype(float) - ref
            assert 10 * np.log10((ref**2).sum() / max((err**2).sum(), 1.0)) > 10


def test_what_cannot_be_rebuilt_is_concealed_never_silence() -> None:
    packets = _tone_packets(2.0, redundancy=False)
    frames, buffer = receive_packets(packets, {10, 11, 12})  # no copies: a 120 ms hole
    assert _timeline_holes_ms(frames) == 0  # filled
    concealed = [f for f in frames if f.opaque in ("plc", "fec")]
    assert sum(f.samples for f in concealed) == 3 * 1920
    energy = [float(np.abs(f.to_ndarray()).mean()) for f in concealed]
    assert energy[0] > 100  # a continuation of the tone, not silence
    # Without concealment the same loss is a hole (what FFmpeg's decoder gave).
    frames, _ = receive_packets(packets, {10, 11, 12}, use_fec=False, conceal=False)
    assert _timeline_holes_ms(frames) == pytest.approx(120)


def test_an_outage_is_concealed_briefly_then_left_as_a_gap() -> None:
    packets = _tone_packets(3.0, redundancy=True)
    frames, buffer = receive_packets(packets, set(range(20, 45)))  # 1 s gone
    assert buffer.counters.concealed_ms <= 200
    assert _timeline_holes_ms(frames) > 700


def test_native_decoder_rejects_garbage_with_a_clear_error() -> None:
    from app.media.opus_native import OpusError

    with pytest.raises(OpusError, match="opus_decode failed"):
        NativeOpusDecoder().decode(b"\xff\xff\xff")


def test_thin_link_audio_costs_a_quarter_less_and_still_rebuilds_every_single_loss() -> None:
    """Link c (96 kbit/s): 60 ms packets whose copy is the same audio at 8 kbit/s."""
    from app.media.audio_plan import AudioPlanner

    planner = AudioPlanner()
    thin = planner.plan(80_000)  # link c's estimate
    assert (thin.frame_ms, thin.copy_bps) == (60, 8_000)
    assert planner.plan(160_000) == thin  # hysteresis: no flip just above
    assert planner.plan(300_000).frame_ms == 40  # link b: audio as before
    assert planner.plan(150_000).frame_ms == 40
    assert planner.plan(120_000) == thin

    seconds = 6.0
    t = np.arange(int(RATE * seconds)) / RATE
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)

    def wire_kbps(control: SendControl) -> tuple[float, list[tuple[int, bytes]]]:
        packets = encode_packets(samples, control)
        return sum(len(p) + 60 for _, p in packets) * 8 / seconds / 1000, packets

    before, _ = wire_kbps(SendControl(audio_bps=16_000))
    after, packets = wire_kbps(
        SendControl(audio_bps=16_000, audio_frame_ms=60, audio_copy_bps=8_000)
    )
    assert after < 0.75 * before, (before, after)
    assert after == pytest.approx(thin.wire_bps() / 1000, rel=0.15)  # the ladder's budget
    lost = set(range(5, len(packets) - 1, 7))  # ~14 % loss, never two in a row
    frames, buffer = receive_packets(packets, lost)
    assert buffer.counters.recovered_copy == len(lost)
    assert not [f for f in frames if f.opaque == "plc"] and _timeline_holes_ms(frames) == 0
    assert {f.samples for f in frames if f.opaque == "copy"} == {2880}  # a whole 60 ms each
    # The lower-rate copy is the same sound (the 440 Hz tone, at a lower quality and level:
    # the decoder moves between two encoders' streams), not a guess or silence.
    clean, _ = receive_packets(packets, set())
    by_pts = {f.pts: f.to_ndarray()[0].astype(float) for f in clean}
    for frame in frames:
        if frame.opaque == "copy":
            copy, ref = frame.to_ndarray()[0].astype(float), by_pts[frame.pts]
            spectrum = np.abs(np.fft.rfft(copy))
            assert abs(np.fft.rfftfreq(copy.size, 1 / RATE)[spectrum.argmax()] - 440) < 25
            assert np.sqrt((copy**2).mean()) > 0.25 * np.sqrt((ref**2).mean())
