"""Frames for display: decoded on demand into the shared cache, and a whole series decoded in
the background in parallel, nearest frames first, so the first image appears at once."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable

import numpy as np

from app.dicom_viewer.cache import FrameCache
from app.dicom_viewer.decoders import decode_frame
from app.dicom_viewer.index import FrameRef, Series


def frame_key(ref: FrameRef) -> tuple[str, int]:
    return (str(ref.instance.path), ref.frame)


class FrameSource:
    """Decoded stored values of frames, cached; thread-safe."""

    def __init__(self, cache: FrameCache | None = None) -> None:
        self.cache = cache or FrameCache()
        self._pinned: dict[int, set] = {}

    def get(self, ref: FrameRef) -> np.ndarray:
        """Decode (or fetch from cache) one frame; raises DicomFileError on failure."""
        key = frame_key(ref)
        arr = self.cache.get(key)
        if arr is None:
            arr = decode_frame(ref.instance.path, ref.frame, ref.instance.header,
                               ref.instance.location)
            self.cache.put(key, arr)
        return arr

    def cached(self, ref: FrameRef) -> np.ndarray | None:
        return self.cache.get(frame_key(ref))

    def pin(self, refs: list[FrameRef], owner: object = None) -> None:
        """Pin the frames ``owner`` (a viewport) shows; the union over owners stays cached."""
        self._pinned[id(owner)] = {frame_key(r) for r in refs}
        self.cache.pin(set().union(*self._pinned.values()))


def _mirror(source: concurrent.futures.Future, target: concurrent.futures.Future) -> None:
    """Complete ``target`` the way ``source`` completed."""
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


def priority_order(count: int, start: int) -> list[int]:
    """Indices ordered by distance from ``start`` (start, start+1, start-1, ...)."""
    order = [start]
    for d in range(1, count):
        for i in (start + d, start - d):
            if 0 <= i < count:
                order.append(i)
    return order


class SeriesPreloader:
    """Decode a series in the background, nearest-first, while it fits the cache budget."""

    def __init__(self, source: FrameSource, executor: concurrent.futures.Executor | None = None,
                 workers: int | None = None) -> None:
        self.source = source
        self._own = executor is None
        self.executor = executor or concurrent.futures.ThreadPoolExecutor(
            workers or max(2, os.cpu_count() or 2), thread_name_prefix="yiqiao-decode")
        self._generation = 0
        self.batch = 4
        self._lock = threading.Lock()

    def start(self, series: Series, start: int,
              on_frame: Callable[[int, np.ndarray | None, Exception | None], None] | None = None,
              ) -> list[concurrent.futures.Future]:
        """Queue every frame of ``series``; ``on_frame(index, array|None, error|None)``."""
        with self._lock:
            self._generation += 1
            generation = self._generation
        frames = series.frames
        futures = []

        def job(indices: list[int]) -> None:
            for index in indices:
                if generation != self._generation:
                    return  # a newer series replaced this one
                ref = frames[index]
                if self.source.cached(ref) is None and index != start:
                    first = self.source.cached(frames[start])
                    if first is not None and not self.source.cache.would_fit(first.nbytes):
                        return  # budget full: leave the rest to on-demand decoding
                arr, error = None, None
                try:
                    arr = self.source.get(ref)
                except Exception as exc:  # noqa: BLE001 - reported to the caller, never raised
                    error = exc
                if on_frame is not None:
                    on_frame(index, arr, error)

        if not frames:
            return futures
        start = min(max(start, 0), len(frames) - 1)
        order = priority_order(len(frames), start)
        # The first frame alone (it is what the user waits for), then small batches: one pool
        # task per frame costs more in scheduling than reading a native slice does.
        rest = [order[i:i + self.batch] for i in range(1, len(order), self.batch)]
        first = self.executor.submit(job, order[:1])
        futures.append(first)
        # The rest is queued only once the first frame is decoded, so it does not compete
        # with it (decoders holding the GIL would otherwise double the first image's time).
        queued = [concurrent.futures.Future() for _ in rest]
        futures.extend(queued)

        def queue_rest(_f: concurrent.futures.Future) -> None:
            for placeholder, batch in zip(queued, rest, strict=True):
                try:
                    real = self.executor.submit(job, batch)
                except RuntimeError:  # executor shut down meanwhile
                    placeholder.cancel()
                    continue
                real.add_done_callback(lambda r, p=placeholder: _mirror(r, p))

        first.add_done_callback(queue_rest)
        return futures

    def cancel(self) -> None:
        with self._lock:
            self._generation += 1

    def shutdown(self) -> None:
        self.cancel()
        if self._own:
            self.executor.shutdown(wait=False, cancel_futures=True)
