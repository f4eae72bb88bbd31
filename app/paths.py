"""Where YiQiao keeps its files: per-user data, config and logs; the machine policy.

Every location can be redirected with an environment variable so tests, portable
installs and IT scripts never touch a real profile:

- ``YIQIAO_HOME``: one folder holding ``data/``, ``config/`` and ``logs/`` for this user.
- ``YIQIAO_POLICY_FILE``: the machine policy file (default: ``%ProgramData%\\YiQiao\\policy.toml``
  on Windows, ``/etc/yiqiao/policy.toml`` elsewhere).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app import APP_NAME

_POLICY_ENV = "YIQIAO_POLICY_FILE"
_HOME_ENV = "YIQIAO_HOME"


def _home_override() -> Path | None:
    value = os.environ.get(_HOME_ENV)
    return Path(value) if value else None


def user_data_dir() -> Path:
    """Per-user data: the encrypted cache, blob store, demo hub data."""
    home = _home_override()
    if home:
        return _ensure(home / "data")
    import platformdirs

    return _ensure(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)))


def user_config_dir() -> Path:
    """Per-user settings (``settings.json``)."""
    home = _home_override()
    if home:
        return _ensure(home / "config")
    import platformdirs

    return _ensure(Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)))


def user_log_dir() -> Path:
    """Rotating log files."""
    home = _home_override()
    if home:
        return _ensure(home / "logs")
    import platformdirs

    return _ensure(Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)))


def machine_policy_file() -> Path:
    """The policy file hospital IT writes (read-only for the app)."""
    override = os.environ.get(_POLICY_ENV)
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        return Path(base) / APP_NAME / "policy.toml"
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_NAME / "policy.toml"
    return Path("/etc/yiqiao/policy.toml")


def resources_dir() -> Path:
    """Shipped resources (translations, icons, sample data); works frozen and from source."""
    frozen_base = getattr(sys, "_MEIPASS", None)
    if frozen_base:
        return Path(frozen_base) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
