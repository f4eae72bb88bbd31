"""Cold start of the desktop client: process start → main window shown, median of 5.

    .venv/bin/python bench/startup.py [--runs 5] [--cmd "dist/YiQiao/YiQiao"]

Each run is a fresh process with an empty profile; the app prints WINDOW_SHOWN once the
window is on screen (``--probe-startup``) and quits. Offscreen Qt unless DISPLAY is set.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(cmd: list[str]) -> float:
    """Seconds from spawning the process to the window being shown."""
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as home:
        env["YIQIAO_HOME"] = home
        env["YIQIAO_POLICY_FILE"] = str(Path(home) / "policy.toml")
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*cmd, "--probe-startup"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("WINDOW_SHOWN"):
                elapsed = time.perf_counter() - start
                break
        else:
            raise RuntimeError(f"{cmd} exited without showing the window")
        proc.wait(timeout=30)
        return elapsed


def main() -> None:
    """Print each run and the median."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cmd", default=f"{sys.executable} main.py")
    args = parser.parse_args()
    cmd = shlex.split(args.cmd)
    one_run(cmd)  # warm the OS file cache once; "cold" means a new process, not a cold disk
    times = [one_run(cmd) for _ in range(args.runs)]
    print(f"start-up to main window ({args.cmd}): " + ", ".join(f"{t:.3f}" for t in times))
    print(f"median of {args.runs}: {statistics.median(times):.3f} s (target ≤ 1.5 s)")


if __name__ == "__main__":
    main()
