"""Chunk sizing from measured throughput and the checksum choice from link health."""

from __future__ import annotations

from app.sync.transfer import MAX_CHUNK, MIN_CHUNK, ChunkSizer, LinkHealth, ThroughputMeter
from tests.support.clock import ManualClock


def test_chunks_take_about_the_target_time_at_the_measured_rate() -> None:
    sizer = ChunkSizer()
    assert sizer.next_size() == MIN_CHUNK, "nothing measured yet: the smallest chunk"
    assert sizer.next_size(checksummed=False) == sizer.unverified_minimum
    sizer.meter.observe(1_000_000, 2.0)  # 500 kB/s
    assert sizer.next_size() == 250_000  # 0.5 s worth
    assert sizer.next_size(checksummed=False) == 2_000_000  # 4 s worth: a cut loses nothing
    sizer.meter.observe(1_000, 1.0)  # the link slows to 1 kB/s: the estimate follows ...
    assert sizer.next_size() < 250_000
    for _ in range(30):
        sizer.meter.observe(1_000, 1.0)
    assert sizer.next_size() == MIN_CHUNK  # ... down to the floor, never below
    fast = ChunkSizer(meter=ThroughputMeter())
    fast.meter.observe(1_000_000_000, 1.0)
    assert fast.next_size() == MAX_CHUNK
    assert fast.next_size(checksummed=False) == fast.unverified_maximum


def test_meter_ignores_empty_and_instant_transfers() -> None:
    meter = ThroughputMeter()
    meter.observe(0, 1.0)
    meter.observe(100, 0.0)
    assert meter.bytes_per_s == 0.0
    meter.observe(100, 1.0)
    meter.observe(300, 1.0)
    assert 100 < meter.bytes_per_s < 300  # weighted towards the recent rate


def test_checksums_only_on_a_link_that_has_proven_itself() -> None:
    clock = ManualClock()
    health = LinkHealth(quiet_s=600, clock=clock)
    assert not health.chunk_checksums() and not health.resetting(), "unproven at start"
    clock.advance(599)
    assert not health.chunk_checksums(), "not yet quiet for quiet_s"
    clock.advance(1)
    assert health.chunk_checksums(), "quiet for quiet_s: chunks carry checksums"
    health.note_reset()
    assert health.resetting() and not health.chunk_checksums()
    clock.advance(600)
    assert health.chunk_checksums() and not health.resetting(), "quiet again"
    health.note_reset()
    health.note_damaged()
    assert health.chunk_checksums(), "damage seen: checksum every chunk even on a resetting link"


def test_reply_wait_allows_for_the_chunk_to_drain_at_the_measured_rate() -> None:
    from app.sync.tus import MIN_DRAIN_RATE, TusUploader

    sizer = ChunkSizer()
    uploader = TusUploader(client=None, blobs=None, sizer=sizer, stall_s=30)  # type: ignore[arg-type]
    chunk = b"x" * 400_000
    connect, read = uploader._with_drain((15.0, 30.0), chunk)
    assert connect == 15.0 and read == 30.0 + 400_000 / MIN_DRAIN_RATE  # rate unknown: assume slow
    sizer.meter.observe(1_000_000, 1.0)  # 1 MB/s measured
    assert uploader._with_drain((15.0, 30.0), chunk)[1] == 30.0 + 400_000 / 500_000  # half the rate
    assert uploader._with_drain((15.0, 30.0), b"")[1] == 30.0
