"""A demo hub on loopback for trying YiQiao without a server (Qt-free).

``start_embedded_hub(data_dir)`` seeds the demo network on first run (idempotent), starts
``python -m hub serve`` as a child process on a free loopback port and returns once
``/readyz`` answers. It blocks for about a second: call it on a worker thread, never on the
GUI thread. In a frozen (PyInstaller) build the executable runs itself with the ``hub``
sub-command, so ``main.py`` must dispatch ``<exe> hub ...`` to ``hub.__main__.main``.

Demo accounts (password ``demo1234`` for all): ``doctor`` (陈志强, clinic doctor, 青山镇卫生院),
``specialist`` (王立华, radiology, 东川县人民医院), ``specialist2`` (刘敏, cardiology),
``coordinator`` (赵芳), ``admin``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

DEMO_PASSWORD = "demo1234"
DEMO_ACCOUNTS: dict[str, str] = {
    "doctor": "clinic doctor 陈志强 at 青山镇卫生院 (township clinic)",
    "specialist": "radiologist 王立华 at 东川县人民医院 (county hospital)",
    "specialist2": "cardiologist 刘敏 at 东川县人民医院",
    "coordinator": "coordinator 赵芳 at 东川县人民医院",
    "admin": "administrator at 东川县人民医院",
}
"""Username → who it is; every demo account uses :data:`DEMO_PASSWORD`."""


class EmbeddedHubError(RuntimeError):
    """The demo hub did not start; the message includes the end of its log."""


@dataclass
class EmbeddedHub:
    """A running demo hub child process."""

    url: str
    process: subprocess.Popen
    data_dir: Path
    log_path: Path
    credentials: dict[str, str] = field(
        default_factory=lambda: dict.fromkeys(DEMO_ACCOUNTS, DEMO_PASSWORD)
    )

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the hub to finish in-flight requests and exit; kill it if it does not."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def hub_command() -> list[str]:
    """How to run the hub CLI from this installation (source tree or frozen bundle)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "hub"]
    return [sys.executable, "-m", "hub"]


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text("utf-8", "replace")[-n:]
    except OSError:
        return ""


def start_embedded_hub(
    data_dir: Path, timeout: float = 30.0, seed_demo: bool = True
) -> EmbeddedHub:
    """Start the demo hub on 127.0.0.1 (free port) with data in ``data_dir``; wait until ready."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = data_dir / "hub.port"
    port_file.unlink(missing_ok=True)
    log_path = data_dir / "hub.log"
    env = dict(os.environ)
    if not getattr(sys, "frozen", False):
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    cmd = [
        *hub_command(),
        "serve",
        "--data",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--log-level",
        "warning",
        "--exit-with-parent",
        str(os.getpid()),
    ]
    if seed_demo:
        cmd.append("--seed-demo")
    flags = 0
    if sys.platform == "win32":  # an if-statement so the checker knows the flag is Windows-only
        flags = subprocess.CREATE_NO_WINDOW
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=str(REPO_ROOT),
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            creationflags=flags,
        )
    deadline = time.monotonic() + timeout
    url = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmbeddedHubError(
                f"the demo hub exited with code {proc.returncode}:\n{_tail(log_path)}"
            )
        if not url and port_file.exists():
            url = f"http://127.0.0.1:{int(port_file.read_text())}"
        if url:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return EmbeddedHub(
                            url=url, process=proc, data_dir=data_dir, log_path=log_path
                        )
            except OSError:
                pass
        time.sleep(0.05)
    proc.kill()
    proc.wait(5)
    raise EmbeddedHubError(
        f"the demo hub did not become ready within {timeout:.0f} s:\n{_tail(log_path)}"
    )
