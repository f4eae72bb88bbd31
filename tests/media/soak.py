"""Two real clients (separate processes, full GUI) calling through a real hub: the soak.

Used by ``tests/media/test_call_soak.py`` (one short call) and ``bench/call_soak.py`` (many
long ones). Each client is ``tests.media.soak_client`` in its own process with its own
``YIQIAO_HOME``; the hub runs in this process on a loopback port. A client that dies (a
native crash) or stops reporting (a stuck GUI thread) is noticed here, with its log.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.media.conftest import C_LI, LiveHub, consultation_id, start_live_hub

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SoakClient:
    """One client process and what it reported."""

    name: str
    proc: subprocess.Popen
    home: Path
    statuses: list[dict[str, Any]] = field(default_factory=list)
    events: queue.Queue = field(default_factory=queue.Queue)
    stderr_tail: list[str] = field(default_factory=list)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # newest event of each kind

    @property
    def last(self) -> dict[str, Any]:
        return self.statuses[-1] if self.statuses else {}

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stalls(self) -> list[dict[str, Any]]:
        return [s for status in self.statuses for s in status.get("stalls", [])]

    def log_text(self) -> str:
        path = self.home / "logs" / "yiqiao.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def describe_death(self) -> str:
        return (
            f"{self.name} exited with {self.proc.returncode}; stderr tail:\n"
            + "".join(self.stderr_tail[-30:])
            + "\nlog tail:\n"
            + self.log_text()[-4000:]
        )


def _reader(client: SoakClient) -> None:
    assert client.proc.stdout is not None
    for line in client.proc.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        event["_seen"] = time.monotonic()
        client.latest[str(event.get("event"))] = event
        if event.get("event") == "status":
            client.statuses.append(event)
        client.events.put(event)


def _stderr_reader(client: SoakClient) -> None:
    assert client.proc.stderr is not None
    for line in client.proc.stderr:
        client.stderr_tail.append(line)
        del client.stderr_tail[:-200]


class Soak:
    """A hub and two client processes: ``caller`` (specialist2) and ``callee`` (doctor)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        (workdir / "hub").mkdir(parents=True, exist_ok=True)
        self.hub: LiveHub = start_live_hub(workdir / "hub")
        self.consultation = consultation_id(C_LI)
        self.callee = self._spawn("doctor", answer=True)
        self.caller = self._spawn("specialist2", answer=False)

    def _spawn(self, user: str, answer: bool) -> SoakClient:
        home = self.workdir / user
        home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONFAULTHANDLER="1")
        cmd = [sys.executable, "-m", "tests.media.soak_client", "--hub", self.hub.url]
        cmd += ["--user", user, "--home", str(home)] + (["--answer"] if answer else [])
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        client = SoakClient(user, proc, home)
        threading.Thread(target=_reader, args=(client,), daemon=True).start()
        threading.Thread(target=_stderr_reader, args=(client,), daemon=True).start()
        return client

    @property
    def clients(self) -> tuple[SoakClient, SoakClient]:
        return self.caller, self.callee

    def check_alive(self) -> None:
        """Fail with the client's stderr and log if one of them died."""
        for client in self.clients:
            if client.proc.poll() is not None:
                raise AssertionError(client.describe_death())

    def check_reporting(self, within_s: float = 15.0) -> None:
        """Fail if a client's GUI stopped reporting (its status timer runs on the GUI)."""
        for client in self.clients:
            if client.statuses and time.monotonic() - client.statuses[-1]["_seen"] > within_s:
                raise AssertionError(
                    f"{client.name}'s GUI thread stopped reporting\n" + client.log_text()[-4000:]
                )

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        """Poll ``predicate()`` until true, checking both clients are alive meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            self.check_reporting()
            if predicate():
                return
            time.sleep(0.1)
        self.check_alive()
        logs = "\n".join(
            f"--- {c.name} log (warnings) ---\n"
            + "\n".join(line for line in c.log_text().splitlines() if " INFO " not in line)[-3000:]
            for c in self.clients
        )
        raise AssertionError(
            f"timed out waiting for {what}; caller {self.caller.last}; callee {self.callee.last}"
            f"\n{logs}"
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Both signed in, ready for calls, and the consultation's records synced."""
        for client in self.clients:
            self.wait(lambda c=client: _seen(c, "ready"), timeout, f"{client.name} ready")
            self.wait(
                lambda c=client: c.last.get("records", 0) > 0, timeout, f"{client.name} synced"
            )

    def call(self, timeout: float = 60.0) -> None:
        """Place a call and wait until both see each other's video (or why it paused)."""
        before = {c.name: c.last.get("remote_frames", 0) for c in self.clients}
        calls = {c.name: c.last.get("calls", 0) for c in self.clients}
        self.caller.send(f"call {self.consultation}")
        # Video both ways — or the far end's video paused by its ladder, said on screen (a
        # starved CPU delays packets like a queue would: the ladder may go to audio only).
        self.wait(
            lambda: all(
                c.last.get("calls", 0) > calls[c.name]
                and c.last.get("media") == "connected"
                and (
                    c.last.get("remote_frames", 0) > before[c.name] + 10
                    or bool(c.last.get("remote_caption"))
                )
                for c in self.clients
            ),
            timeout,
            "both sides connected with video",
        )

    def hangup(self, timeout: float = 30.0) -> None:
        self.caller.send("hangup")
        self.wait(
            lambda: all(c.last.get("phase") in ("ended", "idle") for c in self.clients),
            timeout,
            "both sides ended",
        )

    def close(self) -> None:
        for client in self.clients:
            if client.proc.poll() is None:
                try:
                    client.send("quit")
                except (BrokenPipeError, OSError):
                    pass
        for client in self.clients:
            try:
                client.proc.wait(20)
            except subprocess.TimeoutExpired:
                client.proc.kill()
                client.proc.wait(5)
        self.hub.stop()


def _seen(client: SoakClient, kind: str) -> bool:
    while True:
        try:
            event = client.events.get_nowait()
        except queue.Empty:
            return getattr(client, f"_seen_{kind}", False)
        if event.get("event") == kind:
            setattr(client, f"_seen_{kind}", True)
