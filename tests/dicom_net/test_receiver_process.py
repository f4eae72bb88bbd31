"""The receiver in its own process: it reports a death to the app, and it stops by itself
when the app goes away (no orphan holding the port)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from app.dicom_net.inbox import Inbox, inbox_keys
from app.dicom_net.nodes import LocalNode
from app.dicom_net.receiver_process import ReceiverProcess
from tests.dicom_net.conftest import wait_until


def _started(tmp_path: Path) -> ReceiverProcess:
    folder = tmp_path / "inbox"
    Inbox.open(folder).close()
    node = LocalNode(ae_title="YIQIAO", port=0, bind_address="127.0.0.1")
    receiver = ReceiverProcess(node, folder, inbox_keys())
    assert receiver.start() > 0 and receiver.running
    return receiver


def test_a_dead_receiver_process_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    receiver = _started(tmp_path)
    # The child's log lines reach the app's log (here: pytest's capture) through the pipe.
    wait_until(
        lambda: any("[receiver process]" in r.getMessage() and "listening" in r.getMessage()
                    for r in caplog.records),
        what="the receiver's log line",
    )  # fmt: skip
    receiver._proc.kill()
    wait_until(lambda: receiver.failure, what="the death noticed")
    assert "ended" in receiver.failure and not receiver.running and receiver.port == 0
    receiver.stop()


_APP = """
import os, sys
from pathlib import Path
from app.credentials import use_memory_keyring
use_memory_keyring()
from app.dicom_net.inbox import Inbox, inbox_keys
from app.dicom_net.nodes import LocalNode
from app.dicom_net.receiver_process import ReceiverProcess
folder = Path(sys.argv[1])
Inbox.open(folder).close()
r = ReceiverProcess(LocalNode(port=0, bind_address="127.0.0.1"), folder, inbox_keys())
r.start()
print(r._proc.pid, flush=True)
sys.stdin.read()  # until the test kills this "app"
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_receiver_process_stops_when_the_app_dies(tmp_path: Path) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to watch the orphan")
    app = subprocess.Popen(
        [sys.executable, "-c", _APP, str(tmp_path / "inbox")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        child = int(app.stdout.readline())
        assert _alive(child)
        app.kill()  # the app crashes: no stop message, its end of the pipe closes
        app.wait(30)
        wait_until(lambda: not _alive(child), what="the orphaned receiver stops")
    finally:
        app.kill()
