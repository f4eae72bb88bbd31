"""Schemathesis against a real hub on loopback, every check, for a time budget (default
5 minutes): the OpenAPI document must declare what the hub really does.

Starts ``python -m hub serve --seed-demo`` (SQLite in a temporary folder, or PostgreSQL with
``--db``), signs in as the demo clinic doctor and runs ``st run --checks all``. Prints
schemathesis' summary and exits with its status.

    .venv/bin/python bench/hub_fuzz.py [--seconds 300] [--db postgresql://…] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hub.demo import DEMO_PASSWORD  # noqa: E402

# The coverage phase is left out: on the recursive StrictJsonValue schema (hub/api/openapi.py)
# schemathesis 4.3's coverage generator stalls (5 cases in 4 minutes); fuzzing and stateful
# phases draw hundreds of cases a minute from the same schema, every check enabled.
PHASES = os.environ.get("YIQIAO_FUZZ_PHASES", "examples,fuzzing,stateful")
CONFIG = Path(__file__).with_name("schemathesis.toml")


def st_command(url: str, token: str, seconds: int, seed: int, report_dir: Path) -> list[str]:
    """The schemathesis command line (shared with tests/hub/test_schema_fuzz.py)."""
    return [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        url + "/api/v1/openapi.json",
        "-H",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--phases",
        PHASES,
        "--max-time",
        str(seconds),
        "--seed",
        str(seed),
        "-w",
        "1",
        # Logout would end the fuzzer's own session; PATCH bodies use tus's
        # application/offset+octet-stream, which schemathesis cannot generate meaningfully
        # (tests/hub/test_blobs.py and test_upload_race.py drive tus with real clients).
        "--exclude-path",
        "/api/v1/auth/logout",
        "--exclude-method",
        "PATCH",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--db", default="")
    ap.add_argument("--seed", type=int, default=20261130)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        cmd = [sys.executable, "-m", "hub", "serve", "--data", tmp, "--port", "0"]
        cmd += ["--port-file", str(port_file), "--seed-demo", "--log-level", "warning"]
        if args.db:
            cmd += ["--db", args.db]
        hub = subprocess.Popen(cmd, cwd=REPO)
        try:
            deadline = time.monotonic() + 120
            while not (port_file.exists() and port_file.read_text().strip()):
                if hub.poll() is not None or time.monotonic() > deadline:
                    print("the hub did not start", file=sys.stderr)
                    return 2
                time.sleep(0.1)
            url = f"http://127.0.0.1:{int(port_file.read_text())}"
            token = httpx.post(
                url + "/api/v1/auth/login",
                json={"username": "doctor", "password": DEMO_PASSWORD},
                timeout=60,
            ).json()["access_token"]
            st = st_command(url, token, args.seconds, args.seed, Path(tmp) / "report")
            print("$", " ".join(st).replace(token, "<token>"), flush=True)
            started = time.monotonic()
            proc = subprocess.run(st, env={**os.environ, "NO_COLOR": "1"}, check=False)
            print(
                f"schemathesis exit status {proc.returncode} after {time.monotonic() - started:.0f} s"
            )
            return proc.returncode
        finally:
            hub.terminate()
            hub.wait(60)


if __name__ == "__main__":
    sys.exit(main())
