"""Layouts hold at 100–200 % scaling in both languages: every main screen is built in its own
process with QT_SCALE_FACTOR set, photographed into a temporary folder (never the tree; run
``tests/foundation/layout_probe.py`` by hand to refresh docs/img) and checked for squeezed
fields: the chat input's placeholder, button texts, one-line labels, table columns holding IDs,
ages and names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

REPO = Path(__file__).resolve().parents[2]


def _probe(out: Path, scale: str, lang: str, profile: Path) -> dict:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "QT_SCALE_FACTOR": scale,
        "YIQIAO_HOME": str(profile),
        "YIQIAO_POLICY_FILE": str(profile / "policy.toml"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "tests.foundation.layout_probe", str(out), "--lang", lang],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("scale", "lang"), [("1.5", "zh_CN"), ("2", "zh_CN"), ("1", "en")])
def test_main_screens_hold_their_layout(tmp_path: Path, scale: str, lang: str) -> None:
    result = _probe(tmp_path / "shots", scale, lang, tmp_path / "profile")
    assert not result["problems"], "\n".join(result["problems"])
    names = {Path(p).name for p in result["shots"]}
    tag = f"{lang}-{int(float(scale) * 100)}"
    for screen in ("page-consultations", "page-patients", "page-viewer", "page-call"):
        assert f"{screen}-{tag}.png" in names
    assert f"call-in-progress-{tag}.png" in names and f"dialog-login-{tag}.png" in names
    shot = QImage(str(tmp_path / "shots" / f"page-patients-{tag}.png"))
    from tests.foundation.layout_probe import SIZES

    logical_width = SIZES[float(scale)][0]
    assert shot.width() == round(logical_width * float(scale)), "drawn at the scale asked for"
    assert not (REPO / "docs" / "img" / f"page-patients-{tag}.png").exists()
