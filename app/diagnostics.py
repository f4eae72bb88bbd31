"""'Export diagnostics': one zip IT can send us — logs, versions, OS, redacted settings."""

from __future__ import annotations

import json
import platform
import sys
import zipfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from app import __version__, paths
from app.config import Settings

COMPONENTS = (
    "PySide6-Essentials",
    "aiortc",
    "av",
    "pydicom",
    "highdicom",
    "keyring",
    "requests",
    "sqlcipher3",
    "numpy",
    "fastapi",
)


def component_versions() -> dict[str, str]:
    """Installed versions of the components that matter for support."""
    versions = {"YiQiao": __version__, "Python": sys.version.split()[0]}
    for name in COMPONENTS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def system_info() -> dict[str, str]:
    """The OS and machine, as platform reports it."""
    return {
        "os": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python_executable": sys.executable,
        "frozen": str(bool(getattr(sys, "frozen", False))),
    }


def export_diagnostics(target: Path, settings: Settings, extra: dict | None = None) -> Path:
    """Write the diagnostics zip to ``target``; secrets are never included."""
    target.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "created": datetime.now(UTC).isoformat(),
        "versions": component_versions(),
        "system": system_info(),
        "settings": settings.redacted(),
        "policy_locked": settings.locked,
        "settings_problems": [p.describe() for p in settings.problems],
        **(extra or {}),
    }
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("report.json", json.dumps(report, indent=2, ensure_ascii=False))
        for log_file in sorted(paths.user_log_dir().glob("*.log*")):
            zf.write(log_file, f"logs/{log_file.name}")
    return target
