"""The real hub as a child process on loopback: ``python -m hub serve --port 0 --port-file …``.

One launcher for the tests that need the hub as it runs in production (its own process,
signals, restarts over the same data folder, several processes on one database behind nginx).
It waits on ``/readyz`` with a generous deadline, never a fixed sleep, and a hub that exits or
never gets ready fails naming its log. Its port file, stdout and stderr are ``<name>.port``,
``<name>.out`` and ``<name>.log`` in the data folder (several launchers with different names
can share one folder); ``stop()`` and ``wait()`` return what this run wrote.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]


class HubLauncher:
    """One hub process over ``data``; ``start()`` again after a stop serves the same port.

    ``extra`` are more ``hub serve`` arguments (``--db``, ``--host``); ``env`` replaces the
    environment the hub inherits (PYTHONPATH is always set to the repository)."""

    def __init__(
        self,
        data: Path,
        *extra: str,
        log_level: str | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        ca_cert: Path | None = None,
        name: str = "hub",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data = data
        self.name = name
        self.env = dict(os.environ if env is None else env)
        self.extra = list(extra)
        self.log_level = log_level
        self.tls = (tls_cert, tls_key) if tls_cert and tls_key else None
        self.ca_cert = ca_cert
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._marks = (0, 0)  # where this run's output starts in hub.out / hub.log
        data.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def port_file(self) -> Path:
        return self.data / f"{self.name}.port"

    @property
    def log_path(self) -> Path:
        return self.data / f"{self.name}.log"

    def command(self) -> list[str]:
        port_file = self.port_file
        cmd = [sys.executable, "-m", "hub", "serve", "--data", str(self.data)]
        cmd += ["--port", str(self.port), "--port-file", str(port_file)]
        if self.log_level:
            cmd += ["--log-level", self.log_level]
        if self.tls:
            cmd += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        return cmd + self.extra

    def start(self, timeout: float = 60.0) -> HubLauncher:
        """Start and return once ``/readyz`` answers 200."""
        self.spawn()
        return self.wait_ready(timeout)

    def spawn(self) -> HubLauncher:
        """Start the process without waiting (several hubs start side by side)."""
        self.port_file.unlink(missing_ok=True)
        out_path, err_path = self._outputs()
        self._marks = tuple(p.stat().st_size if p.exists() else 0 for p in (out_path, err_path))
        env = {**self.env, "PYTHONPATH": str(REPO)}
        with open(out_path, "ab") as out, open(err_path, "ab") as err:
            self.proc = subprocess.Popen(self.command(), cwd=REPO, stdout=out, stderr=err, env=env)
        return self

    def wait_ready(self, timeout: float = 60.0) -> HubLauncher:
        """Return once the spawned hub answers ``/readyz`` with 200."""
        proc = self.proc
        assert proc is not None, "spawn() first"

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({proc.returncode})")
            return self.port_file.exists() and self._ready(int(self.port_file.read_text()))

        try:
            wait_until(ready, timeout, what=f"{self.name} to answer /readyz", poll=0.05)
        except AssertionError as exc:
            self.kill()
            raise AssertionError(f"{exc}:\n{self.log()}") from None
        return self

    def _outputs(self) -> tuple[Path, Path]:
        return self.data / f"{self.name}.out", self.log_path

    def _ready(self, port: int) -> bool:
        self.port = port
        context = None
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.ca_cert) if self.ca_cert else None)
            if self.ca_cert is None:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=5, context=context) as r:
                return r.status == 200
        except OSError:
            return False

    def output(self) -> tuple[str, str]:
        """(stdout, stderr) of the current or last run."""
        texts = []
        for path, mark in zip(self._outputs(), self._marks, strict=True):
            with open(path, "rb") as f:
                f.seek(mark)
                texts.append(f.read().decode("utf-8", "replace"))
        return texts[0], texts[1]

    def log(self) -> str:
        return self.output()[1][-4000:]

    def terminate(self) -> None:
        """SIGTERM (a graceful shutdown) without waiting for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 40.0) -> tuple[str, str]:
        """Wait for the process to end; (stdout, stderr) of this run."""
        if self.proc is not None:
            self.proc.wait(timeout)
        return self.output()

    def kill(self) -> None:
        """Hard stop (SIGKILL): a crash mid-request."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 40.0) -> tuple[str, str]:
        """Graceful stop (SIGTERM, SIGKILL if it hangs); (stdout, stderr) of this run."""
        self.terminate()
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.output()

    def restart(self) -> HubLauncher:
        self.stop()
        return self.start()
