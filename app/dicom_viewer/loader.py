"""Frames for display: decoded on demand into the shared cache, and a whole series decoded in
the background in parallel, nearest frames first, so the first image appears at once.

Native frames are read by threads (numpy file reads release the GIL). Compressed frames go to
worker processes when a ``ProcessDecodePool`` is given, because their decoders hold the GIL:
two decode threads would only take turns. Compressed frames are never decoded in this
process when a pool is given (a corrupt one could abort it): the first one waits for the
workers to start, which the viewer begins as soon as a compressed file is indexed.
"""

from __future__ import annotations

import concurrent.futures
import functools
import io
import os
import threading
from collections import deque
from collections.abc import Callable

import numpy as np
from pydicom.uid import UID

from app.dicom_viewer.cache import FrameCache
from app.dicom_viewer.decode_pool import ProcessDecodePool, WorkersUnavailable
from app.dicom_viewer.decoders import check_frame_size, decode_frame, read_dataset
from app.dicom_viewer.errors import DicomFileError
from app.dicom_viewer.index import FrameRef, Series

OnFrame = Callable[[int, np.ndarray | None, BaseException | None], None]


def frame_key(ref: FrameRef) -> tuple[str, int]:
    return (str(ref.instance.path), ref.frame)


def is_encapsulated(ref: FrameRef) -> bool:
    """True for compressed (encapsulated) pixel data, whose decoders hold the GIL."""
    if ref.instance.location is not None:
        return False
    meta = getattr(ref.instance.header, "file_meta", None)
    tsyntax = str(getattr(meta, "TransferSyntaxUID", "") or "")
    return bool(tsyntax) and UID(tsyntax).is_encapsulated


def decode_in_memory(ref: FrameRef) -> np.ndarray:
    """Decode a frame of an in-memory instance (its bytes from ``opener``) in this process."""
    assert ref.instance.opener is not None
    data = read_dataset(io.BytesIO(ref.instance.opener()))
    return decode_frame(ref.instance.path, ref.frame, ref.instance.header, dataset=data)


def is_python_decodable(ref: FrameRef) -> bool:
    """RLE has a pure numpy decoder in pydicom: safe to run in the GUI's process."""
    meta = getattr(ref.instance.header, "file_meta", None)
    return str(getattr(meta, "TransferSyntaxUID", "") or "") == "1.2.840.10008.1.2.5"


class FrameSource:
    """Decoded stored values of frames, cached; thread-safe."""

    def __init__(
        self, cache: FrameCache | None = None, processes: ProcessDecodePool | None = None
    ) -> None:
        self.cache = cache or FrameCache()
        self.processes = processes
        self._pinned: dict[int, set] = {}

    def get(self, ref: FrameRef) -> np.ndarray:
        """Decode (or fetch from cache) one frame, blocking; raises DicomFileError.

        With a process pool, compressed frames are decoded only in its worker processes
        (started here if need be): their native decoders can abort a process on corrupt
        data, and this is the GUI's process. Without a pool (headless tools, tests of good
        files) everything is decoded here.
        """
        key = frame_key(ref)
        arr = self.cache.get(key)
        if arr is None:
            if self.processes is not None and is_encapsulated(ref):
                arr = self._decode_isolated(ref)
            elif ref.instance.opener is not None:
                arr = decode_in_memory(ref)
            else:
                arr = decode_frame(
                    ref.instance.path, ref.frame, ref.instance.header, ref.instance.location
                )
            self.cache.put(key, arr)
        return arr

    def _decode_isolated(self, ref: FrameRef) -> np.ndarray:
        try:
            return self.decode_async(ref).result()
        except WorkersUnavailable as exc:
            # Security software may forbid child processes. Only decoders that are plain
            # Python/numpy may then run here; the rest are refused with the reason.
            if is_python_decodable(ref):
                if ref.instance.opener is not None:
                    return decode_in_memory(ref)
                return decode_frame(ref.instance.path, ref.frame, ref.instance.header)
            raise DicomFileError(
                ref.instance.path,
                "compressed image not decoded: the decoder worker processes cannot start "
                f"on this computer ({exc}), and decoding here could take the viewer down",
            ) from exc

    def decode_async(self, ref: FrameRef) -> concurrent.futures.Future:
        """Decode one frame in the process pool; the array is cached when it arrives.

        Raises DicomFileError at once for absurd frame sizes (checked before any decoder).
        """
        assert self.processes is not None
        check_frame_size(ref.instance.path, ref.instance.header)
        key = frame_key(ref)
        # In-memory instances (a case's study from the encrypted store) travel as bytes.
        if ref.instance.opener is None:
            fut = self.processes.submit(ref.instance.path, ref.frame)
        else:
            fut = self.processes.submit(ref.instance.path, ref.frame, ref.instance.opener())

        def store(f: concurrent.futures.Future) -> None:
            if not f.cancelled() and f.exception() is None:
                self.cache.put(key, f.result())

        fut.add_done_callback(store)
        return fut

    def cached(self, ref: FrameRef) -> np.ndarray | None:
        return self.cache.get(frame_key(ref))

    def pin(self, refs: list[FrameRef], owner: object = None) -> None:
        """Pin the frames ``owner`` (a viewport) shows; the union over owners stays cached."""
        self._pinned[id(owner)] = {frame_key(r) for r in refs}
        self.cache.pin(set().union(*self._pinned.values()))

    def shutdown(self, wait: bool = False) -> None:
        """Stop the decode processes (if any); ``wait`` for them to exit."""
        if self.processes is not None:
            self.processes.shutdown(wait)


def priority_order(count: int, start: int) -> list[int]:
    """Indices ordered by distance from ``start`` (start, start+1, start-1, ...)."""
    order = [start]
    for d in range(1, count):
        for i in (start + d, start - d):
            if 0 <= i < count:
                order.append(i)
    return order


class PreloadRun:
    """One series being decoded in the background; ``finished`` is set when all is done."""

    def __init__(
        self,
        source: FrameSource,
        threads: concurrent.futures.Executor,
        frames: list[FrameRef],
        order: list[int],
        on_frame: OnFrame | None,
        batch: int,
        thread_count: int,
    ) -> None:
        self.source = source
        self.threads = threads
        self.thread_count = thread_count
        self.frames = frames
        self.on_frame = on_frame
        self.batch = batch
        self.first_index = order[0] if order else 0
        self.finished = threading.Event()
        self._pending: deque[int] = deque(order[1:])
        self._lock = threading.Lock()
        self._stopped = False
        self._busy = 0  # thread jobs and process futures under way
        self._futures: set[concurrent.futures.Future] = set()
        processes = source.processes
        self._processes = (
            processes
            if processes is not None and any(is_encapsulated(frames[i]) for i in order)
            else None
        )
        self.in_flight_limit = 2 * processes.workers if processes is not None else 0
        self._in_flight = 0

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Withdraw everything not yet decoding (a newer series replaced this one)."""
        with self._lock:
            self._stopped = True
            self._pending.clear()
            futures = list(self._futures)
        for fut in futures:
            fut.cancel()
        self._maybe_finished()

    # ------------------------------------------------------------------ common
    def _fits(self, index: int) -> bool:
        """False once the cache budget is full (the rest is left to on-demand decoding)."""
        if index == self.first_index or self.source.cached(self.frames[index]) is not None:
            return True
        first = self.source.cached(self.frames[self.first_index])
        return first is None or self.source.cache.would_fit(first.nbytes)

    def _report(self, index: int, arr: np.ndarray | None, error: BaseException | None) -> None:
        if self.on_frame is not None and not self._stopped:
            self.on_frame(index, arr, error)

    def _maybe_finished(self) -> None:
        with self._lock:
            done = self._busy == 0 and (self._stopped or not self._pending)
        if done:
            self.finished.set()

    def _take(self, for_thread: bool) -> int | None:
        """Next index to decode (caller holds the lock), or None."""
        if self._stopped or not self._pending:
            return None
        index = self._pending[0]
        if for_thread and self._use_processes(index):
            return None  # the process feeder takes it from here
        self._pending.popleft()
        if not self._fits(index):
            self._pending.clear()
            return None
        return index

    def _use_processes(self, index: int) -> bool:
        # Compressed frames wait for the worker processes (fed once they are up): decoding
        # them in a thread would run a native decoder in this process.
        return self._processes is not None and is_encapsulated(self.frames[index])

    # ------------------------------------------------------------------ threads
    def run_first(self) -> None:
        """Decode the first frame alone (what the user waits for), then queue the rest."""
        with self._lock:
            self._busy += 1
        try:
            self._decode_in_thread(self.first_index)
        finally:
            with self._lock:
                self._busy -= 1
        if self._stopped:
            self._maybe_finished()
            return
        if self._processes is not None:
            self._processes.on_ready(self.feed)  # starts the workers; they take a moment
        for _ in range(self.thread_count):
            self._submit_thread(self.thread_loop)
        self._maybe_finished()

    def _submit_thread(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._busy += 1
        try:
            self.threads.submit(self._counted, fn)
        except RuntimeError:  # executor shut down meanwhile
            with self._lock:
                self._busy -= 1
                self._stopped = True

    def _counted(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        finally:
            with self._lock:
                self._busy -= 1
            self._maybe_finished()

    def thread_loop(self) -> None:
        """Decode in this thread until the queue is empty or the process pool takes over."""
        while True:
            with self._lock:
                indices = []
                for _ in range(self.batch):
                    index = self._take(for_thread=True)
                    if index is None:
                        break
                    indices.append(index)
            if not indices:
                return
            for index in indices:
                self._decode_in_thread(index)

    def _decode_in_thread(self, index: int) -> None:
        arr, error = None, None
        try:
            arr = self.source.get(self.frames[index])
        except Exception as exc:  # noqa: BLE001 - reported to the caller, never raised
            error = exc
        self._report(index, arr, error)

    # ------------------------------------------------------------------ processes
    def _fall_back_to_threads(self) -> None:
        """The worker processes cannot start: decode the rest in threads, as before."""
        with self._lock:
            if self._processes is None:
                return
            self._processes = None
        for _ in range(self.thread_count):
            self._submit_thread(self.thread_loop)

    def feed(self) -> None:
        """Keep a few frames queued in the process pool (few: cancelling stays quick)."""
        if self._processes is None or self._processes.unavailable is not None:
            self._fall_back_to_threads()
            self._maybe_finished()
            return
        while True:
            with self._lock:
                if self._in_flight >= self.in_flight_limit:
                    return
                index = self._take(for_thread=False)
                if index is None:
                    break
                self._in_flight += 1
                self._busy += 1
            ref = self.frames[index]
            if not is_encapsulated(ref) or self._processes is None:
                self._submit_thread(functools.partial(self._thread_then_feed, index))
                continue
            cached = self.source.cached(ref)
            if cached is not None:
                self._process_done(index, None, cached, None)
                continue
            try:
                fut = self.source.decode_async(ref)
            except Exception as exc:  # noqa: BLE001 - absurd size etc.: reported
                self._process_done(index, None, None, exc)
                continue
            with self._lock:
                self._futures.add(fut)
            fut.add_done_callback(functools.partial(self._done_in_process, index))
        self._maybe_finished()

    def _done_in_process(self, index: int, fut: concurrent.futures.Future) -> None:
        self._process_done(index, fut, None, None)

    def _thread_then_feed(self, index: int) -> None:
        self._decode_in_thread(index)
        with self._lock:
            self._in_flight -= 1
            self._busy -= 1
        self.feed()

    def _process_done(
        self,
        index: int,
        fut: concurrent.futures.Future | None,
        arr: np.ndarray | None,
        error: BaseException | None,
    ) -> None:
        if fut is not None:
            with self._lock:
                self._futures.discard(fut)
            if not fut.cancelled():
                error = fut.exception()
                arr = fut.result() if error is None else None
            if isinstance(error, WorkersUnavailable):
                with self._lock:  # not this frame's fault: back in the queue, for a thread
                    if not self._stopped:
                        self._pending.appendleft(index)
                    self._in_flight -= 1
                    self._busy -= 1
                self._fall_back_to_threads()
                self._maybe_finished()
                return
        if fut is None or not fut.cancelled():
            self._report(index, arr, error)
        with self._lock:
            self._in_flight -= 1
            self._busy -= 1
        if not self._stopped:
            self.feed()
        self._maybe_finished()


class SeriesPreloader:
    """Decode a series in the background, nearest-first, while it fits the cache budget."""

    def __init__(
        self,
        source: FrameSource,
        executor: concurrent.futures.Executor | None = None,
        workers: int | None = None,
    ) -> None:
        self.source = source
        self._own = executor is None
        self.thread_count = workers or max(2, os.cpu_count() or 2)
        self.executor = executor or concurrent.futures.ThreadPoolExecutor(
            self.thread_count, thread_name_prefix="yiqiao-decode"
        )
        self.batch = 4  # one pool task per native frame costs more than reading it
        self._lock = threading.Lock()
        self._run: PreloadRun | None = None

    def start(self, series: Series, start: int, on_frame: OnFrame | None = None) -> PreloadRun:
        """Queue every frame of ``series``; ``on_frame(index, array|None, error|None)``.

        Replaces (and stops) the series queued before.
        """
        frames = series.frames
        start = min(max(start, 0), max(len(frames) - 1, 0))
        order = priority_order(len(frames), start) if frames else []
        run = PreloadRun(
            self.source, self.executor, frames, order, on_frame, self.batch, self.thread_count
        )
        with self._lock:
            previous, self._run = self._run, run
        if previous is not None:
            previous.stop()
        if not frames:
            run.stop()
            return run
        try:
            self.executor.submit(run.run_first)
        except RuntimeError:
            run.stop()
        return run

    def cancel(self) -> None:
        """Stop the current series' background decoding (pending work is withdrawn)."""
        with self._lock:
            run, self._run = self._run, None
        if run is not None:
            run.stop()

    def shutdown(self) -> None:
        self.cancel()
        if self._own:
            self.executor.shutdown(wait=False, cancel_futures=True)
