"""Compressed series decoded in spawned worker processes: same pixels as in-process decoding,
first image decoded at once, cancel withdraws pending work, a crashing worker names its file
and the pool goes on working."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless

from app.dicom_viewer.cache import FrameCache
from app.dicom_viewer.decode_pool import ProcessDecodePool
from app.dicom_viewer.decoders import decode_frame
from app.dicom_viewer.errors import DicomFileError
from app.dicom_viewer.index import Library, import_paths
from app.dicom_viewer.loader import FrameSource, SeriesPreloader, is_encapsulated
from tests.support.ct_phantom import PhantomSpec, write_phantom
from tests.support.wait import wait_until

from .pool_helpers import decode_or_die, modules_in_worker

SLICES = 24


@pytest.fixture(scope="module")
def j2k_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("j2k")
    write_phantom(folder, PhantomSpec(size=128, slices=SLICES), JPEG2000Lossless)
    return folder


class CountingPool(ProcessDecodePool):
    """The real pool, counting the frames handed to worker processes."""

    submitted = 0

    def submit(self, path, frame):  # noqa: ANN001, ANN201
        self.submitted += 1
        return super().submit(path, frame)


def wait_ready(pool: ProcessDecodePool) -> None:
    ready = threading.Event()
    pool.on_ready(ready.set)
    assert ready.wait(60), "decode workers did not start"


@pytest.fixture(scope="module")
def pool():
    pool = CountingPool(workers=2)
    yield pool
    pool.shutdown(wait=True)


def load_series(folder: Path):
    lib = Library()
    import_paths([folder], lib)
    return lib.all_series()[0][2]


class Recorder:
    """on_frame callback that records what arrives, and when the run was stopped."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, np.ndarray | None, Exception | None]] = []
        self.lock = threading.Lock()
        self.first = threading.Event()

    def __call__(self, index: int, arr: np.ndarray | None, error: Exception | None) -> None:
        with self.lock:
            self.calls.append((index, arr, error))
        self.first.set()


def test_series_decoded_in_processes_matches_in_process_decoding(j2k_dir, pool):
    series = load_series(j2k_dir)
    assert all(is_encapsulated(ref) for ref in series.frames)
    source = FrameSource(FrameCache(), pool)
    preloader = SeriesPreloader(source)
    try:
        for start in (5, 0):  # first with the pool starting, then with it running
            source.cache.clear()
            if start == 0:
                wait_ready(pool)
                pool.submitted = 0
            rec = Recorder()
            run = preloader.start(series, start, rec)
            assert run.finished.wait(60)
            # The frame the person looks at comes first, decoded at once.
            assert rec.calls[0][0] == start
            assert sorted(i for i, _a, _e in rec.calls) == list(range(SLICES))
            assert all(e is None for _i, _a, e in rec.calls)
            for index, arr, _e in rec.calls:
                ref = series.frames[index]
                expected = decode_frame(ref.instance.path, ref.frame)
                assert np.array_equal(arr, expected)
                assert source.cached(ref) is arr
        # With the pool running, every frame went to a worker process.
        assert pool.submitted == SLICES
    finally:
        preloader.shutdown()


def test_worker_processes_do_not_import_qt(j2k_dir):
    pool = ProcessDecodePool(workers=1, worker_fn=modules_in_worker)
    try:
        qt_loaded, decoders_loaded = pool.submit(next(j2k_dir.glob("*.dcm")), 0).result(60)
    finally:
        pool.shutdown(wait=True)
    assert decoders_loaded == 1 and qt_loaded == 0


def test_cancel_withdraws_pending_frames(j2k_dir, pool):
    series = load_series(j2k_dir)
    source = FrameSource(FrameCache(), pool)
    preloader = SeriesPreloader(source)
    wait_ready(pool)
    stopped_after: list[int] = []
    late: list[int] = []

    def on_frame(index: int, arr, error) -> None:  # noqa: ANN001
        if stopped_after:
            late.append(index)
        elif len(rec.calls) >= 3:
            preloader.cancel()  # the person closes the series / opens another one
            stopped_after.append(len(rec.calls))
        rec(index, arr, error)

    rec = Recorder()
    try:
        run = preloader.start(series, 0, on_frame)
        assert run.finished.wait(60)
        assert stopped_after, "the run was never cancelled"
        assert run.stopped
        assert late == []  # nothing reported after cancel
        decoded = sum(source.cached(ref) is not None for ref in series.frames)
        # Only frames already handed to a worker may still finish; the rest were withdrawn.
        assert decoded <= stopped_after[0] + 1 + run.in_flight_limit + pool.workers
        assert decoded < SLICES
        # The pool still serves the next series.
        source.cache.clear()
        rec2 = Recorder()
        run2 = preloader.start(series, 0, rec2)
        assert run2.finished.wait(60)
        assert sorted(i for i, _a, _e in rec2.calls) == list(range(SLICES))
    finally:
        preloader.shutdown()


def test_crashing_worker_names_the_file_and_the_pool_recovers(j2k_dir, tmp_path):
    files = sorted(j2k_dir.glob("*.dcm"))[:4]
    crash = tmp_path / "crash_slice.dcm"
    shutil.copy(files[0], crash)
    pool = ProcessDecodePool(workers=2, worker_fn=decode_or_die)
    try:
        futures = {p: pool.submit(p, 0) for p in [*files[:2], crash, *files[2:]]}
        for path, fut in futures.items():
            if path == crash:
                with pytest.raises(DicomFileError) as info:
                    fut.result(60)
                assert info.value.path == str(crash)
                assert str(info.value).startswith(f"{crash}: the decoder crashed on frame 1")
            else:  # innocent frames pending when the worker died are decoded all the same
                assert np.array_equal(fut.result(60), decode_frame(path, 0))
        assert pool.restarts >= 1
        # A second crash later on is handled the same way: the pool is not broken for good.
        assert pytest.raises(DicomFileError, pool.submit(crash, 0).result, 60)
        assert np.array_equal(pool.submit(files[1], 0).result(60), decode_frame(files[1], 0))
    finally:
        pool.shutdown(wait=True)


def test_crash_during_preload_reports_the_file_and_loads_the_rest(j2k_dir, tmp_path):
    folder = tmp_path / "series"
    shutil.copytree(j2k_dir, folder)
    victim = sorted(folder.glob("*.dcm"))[SLICES // 2]
    victim.rename(folder / "crash_me.dcm")
    series = load_series(folder)
    pool = ProcessDecodePool(workers=2, worker_fn=decode_or_die)
    source = FrameSource(FrameCache(), pool)
    preloader = SeriesPreloader(source)
    rec = Recorder()
    wait_ready(pool)  # with the pool running, every frame after the first goes to a worker
    try:
        run = preloader.start(series, 0, rec)
        assert run.finished.wait(90)
    finally:
        preloader.shutdown()
        pool.shutdown(wait=True)
    errors = [(i, e) for i, _a, e in rec.calls if e is not None]
    assert len(errors) == 1
    index, error = errors[0]
    assert Path(series.frames[index].instance.path).name == "crash_me.dcm"
    assert isinstance(error, DicomFileError) and "crash_me.dcm: the decoder crashed" in str(error)
    assert sorted(i for i, _a, _e in rec.calls) == list(range(SLICES))


def test_corrupt_compressed_file_gives_file_and_problem_from_a_worker(j2k_dir, tmp_path, pool):
    bad = tmp_path / "truncated.dcm"
    data = next(j2k_dir.glob("*.dcm")).read_bytes()
    bad.write_bytes(data[: len(data) - 4000])
    with pytest.raises(DicomFileError) as info:
        pool.submit(bad, 0).result(60)
    assert info.value.path == str(bad) and info.value.problem


@pytest.mark.parametrize("name", ["emri_small_jpeg_2k_lossless.dcm", "emri_small_RLE.dcm"])
def test_every_frame_of_a_multiframe_file_in_any_order(pool, name, tmp_path):
    from .conftest import sample

    path = tmp_path / name
    shutil.copy(sample(name), path)
    frames = list(range(10))
    order = frames[::-1] + frames[::3]  # backwards, then again: the worker reuses the parse
    futures = [(i, pool.submit(path, i)) for i in order]
    for i, fut in futures:
        assert np.array_equal(fut.result(60), decode_frame(path, i)), i
    # The file changes on disk (same name): the worker must not serve the old parse.
    shutil.copy(sample("emri_small_jpeg_ls_lossless.dcm"), path)
    assert np.array_equal(pool.submit(path, 4).result(60), decode_frame(path, 4))


def test_idle_workers_stop_and_start_again_when_needed(j2k_dir):
    import psutil

    path = next(j2k_dir.glob("*.dcm"))
    before = {p.pid for p in psutil.Process().children()}
    pool = ProcessDecodePool(workers=1, idle_timeout=0.5)
    try:
        expected = decode_frame(path, 0)
        assert np.array_equal(pool.submit(path, 0).result(60), expected)
        workers = [
            p
            for p in psutil.Process().children()
            if p.pid not in before and "resource_tracker" not in " ".join(p.cmdline())
        ]
        assert len(workers) == 1
        _gone, alive = psutil.wait_procs(workers, timeout=20)
        assert not alive  # stopped after half a second without work
        wait_until(lambda: not pool.started, timeout=30, what="the idle pool to stop")
        assert not pool.ready
        assert np.array_equal(pool.submit(path, 0).result(60), expected)  # started again
    finally:
        pool.shutdown(wait=True)


def test_workers_that_cannot_start_never_decode_compressed_frames_here(j2k_dir, tmp_path):
    """Security software may forbid child processes: compressed frames are then refused
    (named, with the reason) instead of running a native decoder in the viewer's process;
    RLE, which pydicom decodes in plain numpy, still shows."""
    from pydicom.uid import RLELossless

    from app.dicom_viewer.decode_pool import WorkersUnavailable

    from .pool_helpers import fail_to_start

    series = load_series(j2k_dir)
    pool = ProcessDecodePool(workers=2, initializer=fail_to_start)
    source = FrameSource(FrameCache(), pool)
    preloader = SeriesPreloader(source)
    rle_dir = tmp_path / "rle"
    write_phantom(rle_dir, PhantomSpec(size=64, slices=3), RLELossless)
    rle = load_series(rle_dir)
    try:
        # A frame queued while the workers fail to start is not blamed on its file.
        with pytest.raises(WorkersUnavailable):
            pool.submit(series.frames[0].instance.path, 0).result(60)
        assert pool.unavailable  # the reason, for the log
        rec = Recorder()
        assert preloader.start(series, 3, rec).finished.wait(60)
        assert sorted(i for i, _a, _e in rec.calls) == list(range(SLICES))
        for i, arr, error in rec.calls:
            assert arr is None and isinstance(error, DicomFileError)
            assert str(series.frames[i].instance.path) in str(error)
            assert "cannot start" in str(error)
        rec = Recorder()
        assert preloader.start(rle, 0, rec).finished.wait(60)
        assert all(e is None for _i, _a, e in rec.calls), [e for *_, e in rec.calls if e]
        assert np.array_equal(
            source.get(rle.frames[1]), decode_frame(rle.frames[1].instance.path, 0)
        )
    finally:
        preloader.shutdown()
        pool.shutdown(wait=True)
