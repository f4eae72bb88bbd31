"""Start-up stays fast: opening the main window loads none of the heavy stacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("aiortc", "av", "pydicom", "cv2", "highdicom", "fastapi", "sqlalchemy", "numpy")


def test_main_window_start_loads_no_heavy_module(tmp_path):
    code = (
        "import sys, main\n"
        "from PySide6.QtCore import QTimer\n"
        "import app.ui.app as ui\n"
        "rc = ui.run_gui(probe_startup=True)\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print('HEAVY', heavy)\n"
    )
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        YIQIAO_HOME=str(tmp_path),
        YIQIAO_POLICY_FILE=str(tmp_path / "policy.toml"),
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert "WINDOW_SHOWN" in out.stdout, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout
