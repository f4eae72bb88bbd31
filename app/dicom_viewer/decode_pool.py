"""Decoding compressed frames in worker processes, so that decoders which hold the GIL
(pylibjpeg-openjpeg, pylibjpeg-rle, Pillow's JPEG, ...) really run in parallel.

Workers are spawned (never forked: same behaviour on Windows, Linux and in the frozen
bundle, and no copy of the GUI process's threads), started lazily on first use, and import
only this Qt-free module. They receive a file path and a frame index — never a dataset — and
return the decoded numpy array.

A worker that dies (a decoder crashing on a corrupt file) breaks a ``ProcessPoolExecutor``
for every frame then pending. The pool is replaced at once, and the frames that were pending
are decoded again one at a time in a separate one-worker "quarantine" pool, so that only the
file that really crashes its decoder is reported ("file: problem") and no innocent frame is.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from app.dicom_viewer.decoders import decode_frame, read_dataset
from app.dicom_viewer.errors import DicomFileError

WorkerFn = Callable[[str, int], np.ndarray]
log = logging.getLogger(__name__)


class WorkersUnavailable(RuntimeError):
    """The worker processes could not be started at all: decode in this process instead."""


# The last multi-frame file this worker parsed, so that its other frames (often all of them,
# e.g. an ultrasound cine loop) do not re-read and re-parse the whole file each time.
_last_multiframe: tuple[tuple[str, int, int], Dataset] | None = None


def decode_in_process(path: str, frame: int, data: bytes | None = None) -> np.ndarray:
    """Worker entry point: decode frame ``frame`` of ``path`` (raises DicomFileError).

    ``data``: the file's bytes when it lives only in memory (``path`` then just names it).
    """
    global _last_multiframe
    if data is not None:
        return decode_frame(path, frame, dataset=read_dataset(io.BytesIO(data)))
    try:
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        if _last_multiframe is not None and _last_multiframe[0] == key:
            return decode_frame(path, frame, dataset=_last_multiframe[1])
        ds = read_dataset(path)
        multiframe = int(ds.get("NumberOfFrames", 1) or 1) > 1
    except Exception:  # noqa: BLE001 - missing/unreadable: decode_frame names the problem
        return decode_frame(path, frame)
    if multiframe:
        _last_multiframe = (key, ds)
    return decode_frame(path, frame, dataset=ds)


def _ready() -> int:
    """Run once per worker at start-up: by then the decoder modules are imported."""
    return os.getpid()


def default_workers() -> int:
    """One worker per core: the decoders are CPU-bound."""
    return max(1, os.cpu_count() or 1)


@dataclass
class _Job:
    path: str
    frame: int
    outer: concurrent.futures.Future
    inner: concurrent.futures.Future | None = None
    data: bytes | None = None  # an in-memory file's bytes (sent to the worker)

    def args(self) -> tuple:
        """The worker function's arguments."""
        return (self.path, self.frame) if self.data is None else (self.path, self.frame, self.data)


class ProcessDecodePool:
    """Decode frames in spawned worker processes; ``submit`` returns a Future of an array.

    Thread-safe. Nothing is started until the first ``submit`` or ``warm_up``.
    """

    def __init__(
        self,
        workers: int | None = None,
        worker_fn: WorkerFn = decode_in_process,
        idle_timeout: float | None = 300.0,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        self.workers = workers or default_workers()
        self.worker_fn = worker_fn
        self.initializer = initializer  # run in each worker at start (tests: a failing one)
        # Why workers cannot start (e.g. blocked by security software), once that is known;
        # submit() then fails fast with WorkersUnavailable and callers decode in-process.
        self.unavailable: str | None = None
        # Workers idle this long are stopped (~45 MB each on a modest PC); the next compressed
        # frame starts them again. None: keep them until shutdown().
        self.idle_timeout = idle_timeout
        self._outstanding = 0
        self._activity = 0
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._quarantine: concurrent.futures.ProcessPoolExecutor | None = None
        self._suspects: deque[_Job] = deque()
        self._quarantine_busy = False
        self._ready_future: concurrent.futures.Future | None = None
        self._closed = False
        self.restarts = 0  # how often a crashed worker forced a new pool (tests, logs)

    # ------------------------------------------------------------------ lifecycle
    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        """The current executor, created on first use (caller holds the lock)."""
        if self._closed:
            raise RuntimeError("decode pool shut down")
        if self._executor is None:
            self._executor = self._new_executor(self.workers)
            # One start-up task per worker: ``ready`` turns true once a worker answers, i.e.
            # once spawning and importing pydicom/numpy (~0.3–1 s) is behind us.
            self._ready_future = _first_success(
                [self._executor.submit(_ready) for _ in range(self.workers)]
            )
            self._ready_future.add_done_callback(self._check_started)
            self._arm_idle_timer_locked()
        return self._executor

    def _new_executor(self, workers: int) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=self._context, initializer=self.initializer
        )

    def _check_started(self, ready: concurrent.futures.Future) -> None:
        # Every start-up task failed: no worker ever answered, so no file is to blame (a
        # worker that crashes on a file has answered its start-up task before).
        if ready.cancelled() or ready.exception() is None:
            return
        with self._lock:
            if self.unavailable is None and not self._closed:
                self.unavailable = f"{type(ready.exception()).__name__}: {ready.exception()}"
                log.warning(
                    "decode worker processes cannot start (%s); decoding in-process",
                    self.unavailable,
                )

    def warm_up(self) -> None:
        """Start the worker processes now (they take a moment to import the decoders)."""
        with self._lock:
            if not self._closed:
                self._pool()

    @property
    def ready(self) -> bool:
        """True once a worker has started and can decode without start-up delay."""
        fut = self._ready_future
        return fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None

    def on_ready(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (on a pool thread) once the workers are up; starts them."""
        with self._lock:
            if self._closed:
                return
            self._pool()
            fut = self._ready_future
        if fut is not None:
            fut.add_done_callback(lambda _f: callback())

    @property
    def started(self) -> bool:
        return self._executor is not None

    def shutdown(self, wait: bool = False) -> None:
        """Stop the workers; pending frames are cancelled (running ones finish).

        ``wait``: block until the workers have exited (scripts about to exit; the GUI does
        not wait).
        """
        with self._lock:
            self._closed = True
            executors = [e for e in (self._executor, self._quarantine) if e is not None]
            self._executor = self._quarantine = None
            self._ready_future = None
            suspects = list(self._suspects)
            self._suspects.clear()
        for job in suspects:
            job.outer.cancel()
        for executor in executors:
            executor.shutdown(wait=wait, cancel_futures=True)

    # ------------------------------------------------------------------ decoding
    def submit(
        self, path: str | Path, frame: int, data: bytes | None = None
    ) -> concurrent.futures.Future:
        """Queue one frame. The Future gives the array, or raises DicomFileError.

        Cancelling the Future withdraws the frame if no worker has taken it yet.
        """
        outer: concurrent.futures.Future = concurrent.futures.Future()
        if self.unavailable is not None:
            outer.set_exception(WorkersUnavailable(self.unavailable))
            return outer
        job = _Job(str(path), frame, outer, data=data)
        with self._lock:
            self._submit_locked(job)
            self._outstanding += 1
            self._activity += 1
        outer.add_done_callback(lambda f: f.cancelled() and job.inner and job.inner.cancel())
        outer.add_done_callback(self._job_done)
        return outer

    # ------------------------------------------------------------------ idle stop
    def _job_done(self, _f: concurrent.futures.Future) -> None:
        with self._lock:
            self._outstanding -= 1
            if self._outstanding == 0:
                self._arm_idle_timer_locked()

    def _arm_idle_timer_locked(self) -> None:
        if self.idle_timeout is None or self._closed:
            return
        timer = threading.Timer(self.idle_timeout, self._stop_if_idle, args=(self._activity,))
        timer.daemon = True
        timer.start()

    def _stop_if_idle(self, activity: int) -> None:
        """Stop the workers if nothing was submitted since the timer was armed."""
        with self._lock:
            if (
                self._closed
                or self._outstanding
                or activity != self._activity
                or self._suspects
                or self._quarantine_busy
            ):
                return
            executors = [e for e in (self._executor, self._quarantine) if e is not None]
            self._executor = self._quarantine = None
            self._ready_future = None
        for executor in executors:
            executor.shutdown(wait=False)

    def _submit_locked(self, job: _Job) -> None:
        executor = self._pool()
        try:
            inner = executor.submit(self.worker_fn, *job.args())
        except BrokenProcessPool:
            # A worker died and its futures' callbacks have not replaced the pool yet.
            self._drop_locked(executor)
            executor.shutdown(wait=False, cancel_futures=True)
            executor = self._pool()
            inner = executor.submit(self.worker_fn, *job.args())
        job.inner = inner
        inner.add_done_callback(lambda f: self._finished(job, executor, f))

    def _finished(
        self, job: _Job, executor: concurrent.futures.Executor, inner: concurrent.futures.Future
    ) -> None:
        if job.outer.done():
            return
        if inner.cancelled():
            job.outer.cancel()
            return
        exc = inner.exception()
        if isinstance(exc, BrokenProcessPool):
            self._replace_broken(executor)
            # Futures are completed outside the lock: their callbacks take it.
            with self._lock:
                closed, unavailable = self._closed, self.unavailable
                if not closed and unavailable is None:
                    self._suspects.append(job)
            if closed:
                job.outer.cancel()
                return
            if unavailable is not None:  # never started: no file is to blame
                _settle(job.outer, WorkersUnavailable(unavailable))
                return
            self._next_suspect()
            return
        _complete(job.outer, inner, job.path)

    def _replace_broken(self, broken: concurrent.futures.Executor) -> None:
        """Drop a broken executor (once, whichever of its futures reports it first)."""
        with self._lock:
            dropped = self._drop_locked(broken)
        if dropped:
            broken.shutdown(wait=False, cancel_futures=True)

    def _drop_locked(self, broken: concurrent.futures.Executor) -> bool:
        if self._executor is not broken:
            return False
        self._executor = None
        self._ready_future = None
        self.restarts += 1
        return True

    # A suspect is decoded alone in a one-worker pool: if that worker dies too, it was this
    # file. Strictly one at a time, as a dying worker also fails the task queued behind it.
    def _next_suspect(self) -> None:
        with self._lock:
            if self._quarantine_busy or self._closed:
                return
            while self._suspects and self._suspects[0].outer.done():
                self._suspects.popleft()  # cancelled meanwhile
            if not self._suspects:
                return
            job = self._suspects.popleft()
            self._quarantine_busy = True
            if self._quarantine is None:
                self._quarantine = self._new_executor(1)
            quarantine = self._quarantine
            job.inner = quarantine.submit(self.worker_fn, *job.args())
        job.inner.add_done_callback(lambda f: self._suspect_done(job, quarantine, f))

    def _suspect_done(
        self, job: _Job, quarantine: concurrent.futures.Executor, inner: concurrent.futures.Future
    ) -> None:
        exc = None if inner.cancelled() else inner.exception()
        if isinstance(exc, BrokenProcessPool):
            with self._lock:
                if self._quarantine is quarantine:
                    self._quarantine = None
            quarantine.shutdown(wait=False, cancel_futures=True)
            try:
                job.outer.set_exception(
                    DicomFileError(
                        job.path,
                        f"the decoder crashed on frame {job.frame + 1} (corrupt compressed data?)",
                    )
                )
            except concurrent.futures.InvalidStateError:
                pass  # cancelled by its owner in the meantime
        elif inner.cancelled():
            job.outer.cancel()
        else:
            _complete(job.outer, inner, job.path)
        with self._lock:
            self._quarantine_busy = False
        self._next_suspect()


def _first_success(futures: list[concurrent.futures.Future]) -> concurrent.futures.Future:
    """A Future with the first result among ``futures``, or the last error if all fail.

    (A slow-starting worker may still be importing its start-up task while another worker
    already decodes — and crashes — so no single start-up task tells the whole story.)
    """
    combined: concurrent.futures.Future = concurrent.futures.Future()
    lock = threading.Lock()
    failed: list[BaseException] = []

    def done(f: concurrent.futures.Future) -> None:
        with lock:
            if combined.done():
                return
            if not f.cancelled() and f.exception() is None:
                combined.set_result(f.result())
                return
            exc = None if f.cancelled() else f.exception()
            failed.append(exc if exc is not None else concurrent.futures.CancelledError())
            if len(failed) == len(futures):
                combined.set_exception(failed[-1])

    for f in futures:
        f.add_done_callback(done)
    return combined


def _settle(outer: concurrent.futures.Future, exc: BaseException) -> None:
    try:
        outer.set_exception(exc)
    except concurrent.futures.InvalidStateError:
        pass  # cancelled by its owner in the meantime


def _complete(
    outer: concurrent.futures.Future, inner: concurrent.futures.Future, path: str
) -> None:
    """Pass a worker's result on; any unexpected failure still names the file."""
    exc = inner.exception()
    try:
        if exc is None:
            outer.set_result(inner.result())
        elif isinstance(exc, DicomFileError):
            outer.set_exception(exc)
        else:
            outer.set_exception(DicomFileError(path, f"cannot decode pixel data: {exc}"))
    except concurrent.futures.InvalidStateError:
        pass  # cancelled by its owner in the meantime
