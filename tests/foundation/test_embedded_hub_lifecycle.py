"""The embedded demo hub never outlives the client that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]

PARENT = """
import sys, time
from pathlib import Path
from app.embedded_hub import start_embedded_hub
hub = start_embedded_hub(Path(sys.argv[1]))
print(hub.url, hub.process.pid, flush=True)
time.sleep(600)
"""


def test_demo_hub_stops_when_the_client_is_killed(tmp_path):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "hub")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        url, hub_pid = parent.stdout.readline().split()
        assert requests.get(url + "/readyz", timeout=5).status_code == 200
        parent.send_signal(signal.SIGKILL)  # as the task manager would: no clean-up runs
        parent.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(int(hub_pid), 0)
            except ProcessLookupError:
                break
            # reap it if it became our zombie (it did not: it is the dead parent's child)
            time.sleep(0.2)
        else:
            os.kill(int(hub_pid), signal.SIGKILL)
            raise AssertionError("the demo hub kept running after its client was killed")
    finally:
        if parent.poll() is None:
            parent.kill()
