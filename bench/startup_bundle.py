"""Start-up of the PyInstaller bundle next to the same from source: median of 5 each.

    .venv/bin/python bench/startup_bundle.py [--runs 5]

Builds dist/YiQiao first if its inputs changed (packaging/build.py). Each run is a new
process with an empty profile, measured from spawn to the main window being shown
(``--probe-startup``); source and bundle runs alternate so machine load hits both alike.
One unmeasured warm-up run each: "cold" means a new process, not a cold disk cache.

``--cold-disk`` (Linux) also evicts each side's files from the page cache before every run
(posix_fadvise DONTNEED on the bundle, or on the interpreter, the venv and the sources), as
after a reboot; only those files are evicted, so nothing else on the machine is disturbed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from startup import one_run  # noqa: E402 - bench/startup.py, the same measurement from source


def _build_script():  # noqa: ANN202 - a module loaded by path
    spec = importlib.util.spec_from_file_location("yiqiao_build", ROOT / "packaging" / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build


def evict(folders: list[Path]) -> None:
    """Drop these files' pages from the OS page cache (best effort, Linux)."""
    for folder in folders:
        for path in folder.rglob("*"):
            try:
                if not path.is_file() or path.is_symlink():
                    continue
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def source_files() -> list[Path]:
    """What a start from source reads: the interpreter's stdlib, the venv, our code."""
    import sysconfig

    return [
        Path(sysconfig.get_paths()["stdlib"]),
        Path(sysconfig.get_paths()["purelib"]),
        ROOT / "app",
        ROOT / "resources",
    ]


def main() -> None:
    """Print every run and both medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-disk", action="store_true", help="evict files before each run")
    args = parser.parse_args()
    build = _build_script()
    with build.bundle_in_use() as (exe, seconds):
        size = build.dir_size(build.BUNDLE) / 1e6
        how = f"built in {seconds:.0f} s" if seconds is not None else "reused"
        print(f"bundle: {exe} ({size:.0f} MB, {how})")
        commands = {"source": [sys.executable, "main.py"], "bundle": [str(exe)]}
        files = {"source": source_files(), "bundle": [exe.parent]}
        for cmd in commands.values():
            one_run(cmd)  # warm-up
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                if args.cold_disk:
                    evict(files[name])
                times[name].append(one_run(cmd))
    print("page cache: " + ("evicted before each run" if args.cold_disk else "warm"))
    for name, values in times.items():
        runs = ", ".join(f"{t:.3f}" for t in values)
        print(f"{name:6s}: median {statistics.median(values):.3f} s  (runs: {runs})")
    ratio = statistics.median(times["bundle"]) / statistics.median(times["source"])
    print(f"bundle / source: {ratio:.2f}")


if __name__ == "__main__":
    main()
