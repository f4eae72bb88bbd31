"""Viewer benchmark: a generated 512×512×300 CT phantom, uncompressed and JPEG 2000 lossless.

Measures, in one run and against baselines taken in the same run:
- read floor: reading the same files' bytes from disk (warm page cache)
- naive pydicom loop: ``dcmread(f).pixel_array`` for every file
- index: reading headers into the patient/study/series index
- first image: from opening the series to the first frame rendered into a 1024×1024 viewport
- all viewable: until every slice is decoded into the frame cache (decode pool, nearest first);
  for JPEG 2000 with decode threads only (the baseline) and with the process pool (cold and warm)
- scroll: frames/s rendering cached slices with W/L applied into a 1024×1024 viewport
  (core pipeline alone, and with the Qt paint of the widget onto an offscreen image)
- peak memory: process RSS above the pre-load baseline while loading and scrolling

- MPR: from the loaded series to the first coronal and sagittal images (1024²), and the
  scroll rate of each reformatted plane, beside the stack's axial scroll as a baseline

Targets (issue 5): first image ≤ 150 ms; uncompressed series ≤ 3× the read floor;
scroll ≥ 60 frames/s; peak memory ≤ 1.5× the decoded volume. Issue 18: first reformatted
images ≤ 1 s after the series is loaded; ≥ 30 frames/s scrolling a plane.

Usage: python bench/viewer.py [--slices 300] [--size 512] [--keep DIR] [--mpr-only]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import pydicom  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless  # noqa: E402

from app.dicom_viewer.cache import FrameCache  # noqa: E402
from app.dicom_viewer.decode_pool import ProcessDecodePool  # noqa: E402
from app.dicom_viewer.index import FrameRef, Library, Series, import_paths  # noqa: E402
from app.dicom_viewer.loader import FrameSource, SeriesPreloader  # noqa: E402
from app.dicom_viewer.pipeline import Window  # noqa: E402
from app.dicom_viewer.render import render_checked, to_viewport  # noqa: E402
from app.dicom_viewer.view_state import ViewState  # noqa: E402
from tests.support.ct_phantom import PhantomSpec, write_phantom  # noqa: E402

VIEWPORT = (1024, 1024)


class PeakRss:
    """Samples this process's RSS every 5 ms on a thread; ``peak`` is the maximum seen."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def read_floor(files: list[Path]) -> float:
    start = time.perf_counter()
    total = 0
    for f in files:
        with open(f, "rb") as fp:
            total += len(fp.read())
    return time.perf_counter() - start


def read_floor_keep(files: list[Path]) -> float:
    """Reading the bytes and keeping them all in memory (what "viewable" needs): page faults
    for fresh memory are part of this floor."""
    start = time.perf_counter()
    kept = []
    for f in files:
        with open(f, "rb") as fp:
            kept.append(fp.read())
    elapsed = time.perf_counter() - start
    del kept
    return elapsed


def naive_loop(files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        pydicom.dcmread(f).pixel_array  # noqa: B018 - the decode is the point
    return time.perf_counter() - start


def ensure_phantom(folder: Path, spec: PhantomSpec, syntax: str) -> list[Path]:
    files = sorted(folder.glob("*.dcm"))
    if len(files) == spec.slices:
        return files
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        f.unlink()
    t = time.perf_counter()
    out = write_phantom(folder, spec, syntax)
    print(f"  (generated {len(out)} slices in {time.perf_counter() - t:.1f} s)")
    return out


def qt_painter():  # noqa: ANN201 - returns a paint function or None
    """A function painting an RGB frame onto an offscreen QImage as the widget does."""
    try:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtGui import QGuiApplication, QImage, QPainter
    except ImportError:
        return None
    app = QGuiApplication.instance() or QGuiApplication([])
    target = QImage(VIEWPORT[0], VIEWPORT[1], QImage.Format.Format_RGB32)

    def paint(rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        if rgb.ndim == 2:  # MPR planes are grey
            img = QImage(rgb.data, w, h, w, QImage.Format.Format_Grayscale8)
        else:
            img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        p = QPainter(target)
        p.drawImage(0, 0, img)
        p.end()

    paint.app = app  # keep the application alive
    return paint


def gui_stalls(until: threading.Event) -> tuple[float, float]:
    """What the GUI thread suffers meanwhile: this (main) thread asks for 1 ms naps until
    ``until`` is set; how much later than asked it gets the GIL back is the stall a Qt event
    loop would see. Returns (99th percentile, maximum) in ms."""
    late = []
    while not until.is_set():
        t = time.perf_counter()
        time.sleep(0.001)
        late.append(time.perf_counter() - t - 0.001)
    if not late:
        return 0.0, 0.0
    late.sort()
    return late[int(0.99 * (len(late) - 1))] * 1000, late[-1] * 1000


def cpu_seconds() -> float:
    """CPU time of this process and its live children (the decode workers)."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def preload_with_processes(
    series: Series,
) -> dict[str, tuple[float, float, float, tuple[float, float]]]:
    """Every slice viewable with compressed frames decoded in a process pool: once with the
    pool started by this series (cold: worker start-up included), once more with the same
    pool already running (warm: the next series a person opens)."""
    pool = ProcessDecodePool()
    source = FrameSource(FrameCache(), pool)
    state = ViewState(window=Window(40, 400))
    preloader = SeriesPreloader(source)
    rows = {}
    try:
        for label in ("cold pool", "warm pool"):
            source.cache.clear()
            gc.collect()
            first = threading.Event()
            errors: list[Exception] = []

            def on_frame(
                index: int,
                _arr: np.ndarray | None,
                error: Exception | None,
                errors: list = errors,
                first: threading.Event = first,
            ) -> None:
                if error is not None:
                    errors.append(error)
                if index == 0:
                    first.set()

            cpu0 = cpu_seconds()
            t0 = time.perf_counter()
            run = preloader.start(series, 0, on_frame)
            first.wait()
            ref = series.frames[0]  # rendered as in the threads-only row
            img = render_checked(
                str(ref.instance.path), ref.instance.header, 0, source.cached(ref), state
            )
            to_viewport(img, state, VIEWPORT)
            t_first = time.perf_counter() - t0
            stalls = gui_stalls(run.finished)
            t_all = time.perf_counter() - t0
            cpu = cpu_seconds() - cpu0
            if errors:
                print(f"  decode errors with the process pool: {errors[:3]}")
            missing = sum(source.cached(ref) is None for ref in series.frames)
            if missing:
                print(f"  {missing} frames not decoded with the process pool")
            rows[label] = (t_first, t_all, cpu, stalls)
    finally:
        preloader.shutdown()
        source.shutdown(wait=True)
    return rows


def run_variant(
    name: str, files: list[Path], decoded_bytes: int, compressed: bool = False
) -> dict[str, float]:
    gc.collect()
    floor = read_floor(files)  # warms the page cache
    floor = min(floor, read_floor(files))
    floor_keep = min(read_floor_keep(files), read_floor_keep(files))
    naive = naive_loop(files)
    gc.collect()
    baseline = psutil.Process().memory_info().rss
    with PeakRss() as mem:
        lib = Library()
        t = time.perf_counter()
        import_paths([files[0].parent], lib)
        t_index = time.perf_counter() - t
        series = lib.all_series()[0][2]
        source = FrameSource(FrameCache())
        preloader = SeriesPreloader(source)
        state = ViewState(window=Window(40, 400))
        first = threading.Event()
        done = threading.Semaphore(0)

        def on_frame(index: int, _arr: np.ndarray | None, error: Exception | None) -> None:
            if error is not None:
                print(f"  decode error: {error}")
            if index == 0:
                first.set()
            done.release()

        # First image after choosing the folder: the viewer shows the first indexed image
        # while the import goes on (headers only), so this is what a person waits for.
        lib2 = Library()
        shown = threading.Event()
        t_open = time.perf_counter()

        def first_added(inst) -> None:  # noqa: ANN001
            if shown.is_set():
                return
            shown.set()
            arr = source.get(FrameRef(inst, 0))
            to_viewport(render_checked(str(inst.path), inst.header, 0, arr, state), state, VIEWPORT)
            timings["first_from_folder"] = time.perf_counter() - t_open

        timings: dict[str, float] = {}
        import_paths([files[0].parent], lib2, on_added=first_added)
        source.cache.clear()
        lib2.close()

        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        preloader.start(series, 0, on_frame)
        first.wait()
        ref = series.frames[0]
        img = render_checked(
            str(ref.instance.path), ref.instance.header, 0, source.cached(ref), state
        )
        to_viewport(img, state, VIEWPORT)
        t_first = time.perf_counter() - t0
        all_done = threading.Event()

        def wait_all() -> None:
            for _ in series.frames:
                done.acquire()
            all_done.set()

        threading.Thread(target=wait_all, daemon=True).start()
        stalls = gui_stalls(all_done)
        t_all = time.perf_counter() - t0
        cpu_threads = cpu_seconds() - cpu0
        preloader.shutdown()

        def scroll(paint=None) -> float:  # noqa: ANN001
            frames = series.frames
            t = time.perf_counter()
            for i in range(len(frames)):
                ref = frames[i]
                img = render_checked(
                    str(ref.instance.path),
                    ref.instance.header,
                    ref.frame,
                    source.cached(ref),
                    state,
                )
                rgb = to_viewport(img, state, VIEWPORT)
                if paint is not None:
                    paint(rgb)
            return len(frames) / (time.perf_counter() - t)

        fps_core = max(scroll(), scroll())  # best of two passes (the machine is shared)
        painter = qt_painter()
        fps_qt = max(scroll(painter), scroll(painter)) if painter else float("nan")
    peak = mem.peak - baseline
    source.cache.clear()
    pool_rows = preload_with_processes(series) if compressed else {}
    print(f"\n== {name}: {len(files)} slices, decoded volume {decoded_bytes / 2**20:.0f} MiB")
    print(f"  read floor (warm cache)      {floor * 1000:9.0f} ms")
    print(f"  read floor, bytes kept       {floor_keep * 1000:9.0f} ms")
    print(f"  naive pydicom loop           {naive * 1000:9.0f} ms  ({naive / floor:.1f}× floor)")
    print(f"  index headers                {t_index * 1000:9.0f} ms")
    print(f"  first image (series opened)  {t_first * 1000:9.1f} ms  (target ≤ 150 ms)")
    print(
        f"  first image (folder chosen)  {timings['first_from_folder'] * 1000:9.1f} ms  "
        "(import goes on behind it)"
    )
    label = "every slice viewable" + (" (threads only)" if compressed else "")
    print(
        f"  {label:<29}{t_all * 1000:8.0f} ms  ({t_all / floor:.1f}× floor, "
        f"{t_all / floor_keep:.1f}× floor kept, {t_all / naive:.2f}× naive loop; "
        "target ≤ 3× floor uncompressed)"
    )
    print(
        f"    CPU used while decoding      {cpu_threads:9.2f} s  "
        f"({cpu_threads / t_all:.2f} cores busy on average)"
    )
    print(
        f"    GUI-thread stalls meanwhile  {stalls[0]:9.1f} ms 99th percentile, "
        f"{stalls[1]:.1f} ms max"
    )
    for label, (t_first_p, t_all_p, cpu, stalls_p) in pool_rows.items():
        print(f"  with process pool, {label}:")
        print(f"    first image (series opened) {t_first_p * 1000:8.1f} ms")
        print(
            f"    every slice viewable        {t_all_p * 1000:8.0f} ms  "
            f"({t_all_p / t_all:.2f}× threads only, {t_all_p / naive:.2f}× naive loop)"
        )
        print(
            f"    CPU used while decoding     {cpu:8.2f} s  "
            f"({cpu / t_all_p:.2f} cores busy on average)"
        )
        print(
            f"    GUI-thread stalls meanwhile {stalls_p[0]:8.1f} ms 99th percentile, "
            f"{stalls_p[1]:.1f} ms max"
        )
    print(f"  scroll, W/L, 1024² (core)    {fps_core:9.0f} frames/s  (target ≥ 60)")
    print(f"  scroll, W/L, 1024² (+Qt)     {fps_qt:9.0f} frames/s")
    print(
        f"  peak memory above baseline   {peak / 2**20:9.0f} MiB  "
        f"({peak / decoded_bytes:.2f}× decoded volume; target ≤ 1.5×)"
    )
    lib.close()
    return {
        "floor": floor,
        "floor_keep": floor_keep,
        **timings,
        "naive": naive,
        "first": t_first,
        "all": t_all,
        "fps": fps_core,
        "peak": peak,
    }


def big_images(keep: Path) -> None:
    """Radiograph-sized JPEG 2000 (2048×2048, 12 images): with threads the GUI thread waits
    for the GIL for as long as one image takes to decode; with worker processes it does not."""
    spec = PhantomSpec(size=2048, slices=12)
    files = ensure_phantom(keep / "j2k-2048-12", spec, JPEG2000Lossless)
    lib = Library()
    import_paths([files[0].parent], lib)
    series = lib.all_series()[0][2]
    print(f"\n== JPEG 2000 lossless 2048×2048, {len(files)} images")
    for label, preloader in _preloaders():
        t = time.perf_counter()
        run = preloader.start(series, 0)
        p99, worst = gui_stalls(run.finished)
        elapsed = time.perf_counter() - t
        print(
            f"  {label:<13} every image viewable {elapsed * 1000:6.0f} ms; GUI-thread stalls "
            f"{p99:6.1f} ms 99th percentile, {worst:6.1f} ms max"
        )
    lib.close()


def _preloaders() -> Iterator[tuple[str, SeriesPreloader]]:
    """A preloader with decode threads only, then one with a (started) process pool; each
    shut down after its turn."""
    for label, pool in (("threads only", None), ("process pool", ProcessDecodePool())):
        source = FrameSource(FrameCache(), pool)
        preloader = SeriesPreloader(source)
        if pool is not None:
            ready = threading.Event()
            pool.on_ready(ready.set)
            ready.wait()
        yield label, preloader
        preloader.shutdown()
        source.shutdown(wait=True)


def multiframe_cine() -> None:
    """A 120-frame 640×480 JPEG ultrasound loop (pydicom-data): every frame viewable with
    decode threads only and with the process pool (already running)."""
    try:
        import data_store
    except ImportError:
        print("\n== multi-frame cine: pydicom-data not installed, skipped")
        return
    path = Path(data_store.__file__).parent / "data" / "color3d_jpeg_baseline.dcm"
    lib = Library()
    import_paths([path], lib)
    series = lib.all_series()[0][2]
    print(f"\n== multi-frame cine: {path.name}, {len(series.frames)} frames in one file")
    t = time.perf_counter()
    pydicom.dcmread(path).pixel_array  # noqa: B018 - the decode is the point
    print(f"  naive pydicom (all frames)  {(time.perf_counter() - t) * 1000:9.0f} ms")
    for label, preloader in _preloaders():
        t = time.perf_counter()
        preloader.start(series, 0).finished.wait()
        elapsed = time.perf_counter() - t
        print(f"  every frame viewable, {label:<13}{elapsed * 1000:6.0f} ms")
    lib.close()


def mpr(files: list[Path]) -> None:
    """Multiplanar reformatting (issue 18): time from the loaded series to the first coronal
    and sagittal images at 1024², and the scroll rate of a reformatted plane, beside the
    stack's own axial scroll measured the same way in this run (the baseline)."""
    from app.dicom_viewer.mpr import MprState, render_plane, snapshot
    from app.dicom_viewer.volume import build_volume

    lib = Library()
    import_paths([files[0].parent], lib)
    series = lib.all_series()[0][2]
    source = FrameSource(FrameCache())
    preloader = SeriesPreloader(source)
    done = threading.Semaphore(0)
    preloader.start(series, 0, lambda *_a: done.release())
    for _ in series.frames:
        done.acquire()
    preloader.shutdown()
    paint = qt_painter()
    load = os.getloadavg()[0]
    # "after the series is loaded": every slice decoded in the frame cache, as in the viewer.
    t0, c0 = time.perf_counter(), time.process_time()
    volume = build_volume(series.frames, source.get)
    t_volume, c_volume = time.perf_counter() - t0, time.process_time() - c0
    state = MprState(volume.geometry)
    firsts = {}
    for plane in ("coronal", "sagittal"):
        r = render_plane(volume, snapshot(state), plane, VIEWPORT)
        if paint:
            paint(np.ascontiguousarray(r.rgb))
        firsts[plane] = time.perf_counter() - t0
        firsts[plane + "_cpu"] = time.process_time() - c0
    print(
        f"  MPR: volume {volume.voxels.shape} {volume.voxels.dtype} built in {t_volume * 1000:.0f} ms "
        f"(CPU {c_volume * 1000:.0f} ms); first coronal {firsts['coronal'] * 1000:.0f} ms "
        f"(CPU {firsts['coronal_cpu'] * 1000:.0f} ms), first sagittal "
        f"{firsts['sagittal'] * 1000:.0f} ms (CPU {firsts['sagittal_cpu'] * 1000:.0f} ms) "
        "after the series was loaded (target ≤ 1000 ms; CPU time is what the machine's load "
        "does not inflate)"
    )
    window = Window(40, 400)
    state.window = window
    for plane in ("coronal", "sagittal", "axial"):
        steps = 120
        t, c = time.perf_counter(), time.process_time()
        for i in range(steps):
            state.scroll(plane, 1 if (i // 60) % 2 == 0 else -1)
            r = render_plane(volume, snapshot(state), plane, VIEWPORT)
            if paint:
                paint(np.ascontiguousarray(r.rgb))
        fps = steps / (time.perf_counter() - t)
        cpu_fps = steps / max(time.process_time() - c, 1e-9)
        print(
            f"  MPR scroll {plane:8s} at {VIEWPORT[0]}²: {fps:5.1f} frames/s ({cpu_fps:5.1f} per CPU second; target ≥ 30)"
        )
    state.slab_mm, state.slab_mode = 10.0, "mip"
    t, c = time.perf_counter(), time.process_time()
    for _i in range(40):
        state.scroll("coronal", 1)
        render_plane(volume, snapshot(state), "coronal", VIEWPORT)
    print(
        f"  MPR scroll coronal, 10 mm MIP slab: {40 / (time.perf_counter() - t):5.1f} frames/s ({40 / max(time.process_time() - c, 1e-9):5.1f} per CPU second)"
    )
    state.slab_mm = 0.0
    state.rotate("axial", 30)
    t, c = time.perf_counter(), time.process_time()
    for _i in range(20):
        state.scroll("coronal", 1)
        render_plane(volume, snapshot(state), "coronal", VIEWPORT)
    print(
        f"  MPR scroll oblique coronal (30°): {20 / (time.perf_counter() - t):5.1f} frames/s ({20 / max(time.process_time() - c, 1e-9):5.1f} per CPU second)"
    )
    # Baseline: the stack's axial scroll through the same cached slices, same viewport.
    view = ViewState(window=window)
    t, c = time.perf_counter(), time.process_time()
    for ref in series.frames[:120]:
        img = render_checked(str(ref.instance.path), ref.instance.header, 0, source.get(ref), view)
        rgb = to_viewport(img, view, VIEWPORT)
        if paint:
            paint(rgb)
    print(
        f"  baseline: stack scroll (axial, cached) {120 / (time.perf_counter() - t):5.1f} frames/s ({120 / max(time.process_time() - c, 1e-9):5.1f} per CPU second)"
    )
    print(f"  (load average during the MPR run: {load:.1f} → {os.getloadavg()[0]:.1f})")
    lib.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "yiqiao-bench")
    ap.add_argument("--skip-j2k", action="store_true")
    ap.add_argument("--mpr-only", action="store_true", help="only the reformatting figures")
    args = ap.parse_args()
    spec = PhantomSpec(size=args.size, slices=args.slices)
    decoded = args.size * args.size * 2 * args.slices
    print(
        f"load average: {os.getloadavg()[0]:.1f}, cores: {os.cpu_count()}, RAM: {psutil.virtual_memory().total / 2**30:.1f} GiB, "
        f"cache budget: {FrameCache().budget / 2**20:.0f} MiB"
    )
    if args.mpr_only:
        folder = args.keep / f"uncompressed-{args.size}-{args.slices}"
        mpr(ensure_phantom(folder, spec, ExplicitVRLittleEndian))
        return 0
    variants = [("uncompressed", ExplicitVRLittleEndian)]
    if not args.skip_j2k:
        variants.append(("JPEG 2000 lossless", JPEG2000Lossless))
    for name, syntax in variants:
        folder = args.keep / f"{name.split()[0].lower()}-{args.size}-{args.slices}"
        files = ensure_phantom(folder, spec, syntax)
        run_variant(name, files, decoded, compressed=syntax != ExplicitVRLittleEndian)
        if syntax == ExplicitVRLittleEndian:
            mpr(files)
    if not args.skip_j2k:
        multiframe_cine()
        big_images(args.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
