"""`make run` on a fresh machine: Qt's real xcb platform starts under Xvfb, or the check names
exactly the Debian packages to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.qt_system_libs import advice, missing_sonames, packages_for

REPO = Path(__file__).resolve().parents[2]

LDD_FRESH_DEBIAN = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-weird.so.9 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def test_missing_libraries_become_one_apt_line() -> None:
    missing = missing_sonames(LDD_FRESH_DEBIAN)
    assert missing == [
        "libxcb-cursor.so.0",
        "libxcb-icccm.so.4",
        "libxcb-keysyms.so.1",
        "libxkbcommon-x11.so.0",
        "libxcb-weird.so.9",
    ]
    packages, unknown = packages_for(missing)
    assert packages == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0"]
    line = advice(packages, unknown)
    assert "\n" not in line
    assert "apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in line
    assert "libxcb-weird.so.9" in line


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin is Linux's")
def test_real_xcb_platform_starts_under_xvfb() -> None:
    if not shutil.which("xvfb-run"):
        pytest.skip("xvfb-run is not installed (apt-get install xvfb xauth)")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    check = subprocess.run(
        [sys.executable, "tools/qt_system_libs.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr  # names the exact apt-get line
    probe = (
        "from PySide6.QtWidgets import QApplication, QLabel;"
        "app = QApplication([]); w = QLabel('医桥'); w.show(); app.processEvents();"
        "print('PLATFORM', app.platformName(), w.isVisible())"
    )
    run = subprocess.run(
        ["xvfb-run", "-a", sys.executable, "-c", probe],
        cwd=REPO,
        env={**env, "QT_QPA_PLATFORM": "xcb"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "PLATFORM xcb True" in run.stdout, run.stdout + run.stderr
