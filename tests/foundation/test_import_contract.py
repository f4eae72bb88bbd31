"""The rooms of docs/ARCHITECTURE.md: the Qt-free cores never import PySide6 (statically or at
run time); the hub reaches into the client only for the shared protocol and domain rules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORES = [
    "app/sync",
    "app/media",
    "app/dicom_viewer",
    "app/protocol",
    "app/consult",
    "app/dicom_net",
]
# What the hub may import from app/: the wire protocol and the consultation rules everywhere;
# the media stack only where the hub itself is a call peer (the echo test call).
HUB_MAY_IMPORT = ("app.protocol", "app.consult")
HUB_MEDIA_PEERS = {"hub/signaling/echo.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_core_module_mentions_qt_imports():
    offenders = []
    for core in CORES:
        for path in (ROOT / core).rglob("*.py"):
            bad = {n for n in _imports(path) if n.split(".")[0] in ("PySide6", "shiboken6")}
            bad |= {n for n in _imports(path) if n.startswith("app.ui")}
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, "cores must stay Qt-free:\n" + "\n".join(offenders)


def test_importing_every_core_module_loads_no_qt():
    modules = []
    for core in CORES:
        for path in sorted((ROOT / core).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules.append(".".join(parts))
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "leaked = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6')))\n"
        "print(leaked)\n"
        "sys.exit(1 if leaked else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hub_imports_only_protocol_and_rules_from_the_client():
    offenders = []
    for path in (ROOT / "hub").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        allowed = HUB_MAY_IMPORT + (("app.media",) if rel in HUB_MEDIA_PEERS else ())
        for name in _imports(path):
            if name.split(".")[0] in ("PySide6", "shiboken6"):
                offenders.append(f"{rel}: {name}")
            elif (name == "app" or name.startswith("app.")) and not name.startswith(allowed):
                offenders.append(f"{rel}: {name}")
    assert not offenders, "the hub imports from the client only what its rooms allow:\n" + (
        "\n".join(sorted(offenders))
    )
