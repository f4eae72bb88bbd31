"""Screenshots of the workflow's screens: into docs/img when YIQIAO_SCREENSHOTS=1 (for the
README; we look at them), else into the test's temporary folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def shot(widget: Any, name: str, tmp_path: Path) -> Path:
    folder = (
        Path(__file__).resolve().parents[2] / "docs" / "img"
        if os.environ.get("YIQIAO_SCREENSHOTS")
        else tmp_path
    )
    path = folder / name
    assert widget.grab().save(str(path))
    return path
