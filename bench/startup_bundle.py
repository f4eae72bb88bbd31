"""Start-up of the PyInstaller bundle next to the same from source: median of 5 each.

    .venv/bin/python bench/startup_bundle.py [--runs 5]

Builds dist/YiQiao first if its inputs changed (packaging/build.py). Each run is a new
process with an empty profile, measured from spawn to the main window being shown
(``--probe-startup``); source and bundle runs alternate so machine load hits both alike.
One unmeasured warm-up run each: "cold" means a new process, not a cold disk cache.
"""

from __future__ import annotations

import argparse
import importlib.util
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


def main() -> None:
    """Print every run and both medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    build = _build_script()
    with build.bundle_in_use() as (exe, seconds):
        size = build.dir_size(build.BUNDLE) / 1e6
        how = f"built in {seconds:.0f} s" if seconds is not None else "reused"
        print(f"bundle: {exe} ({size:.0f} MB, {how})")
        commands = {"source": [sys.executable, "main.py"], "bundle": [str(exe)]}
        for cmd in commands.values():
            one_run(cmd)  # warm-up
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(one_run(cmd))
    for name, values in times.items():
        runs = ", ".join(f"{t:.3f}" for t in values)
        print(f"{name:6s}: median {statistics.median(values):.3f} s  (runs: {runs})")
    ratio = statistics.median(times["bundle"]) / statistics.median(times["source"])
    print(f"bundle / source: {ratio:.2f}")


if __name__ == "__main__":
    main()
