"""Logging to rotating files in the per-user log dir (level from settings)."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from app import paths

LOG_FILE_NAME = "yiqiao.log"
_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO", log_dir: Path | None = None) -> Path:
    """Send logs to ``yiqiao.log`` (5 × 2 MB rotation); return the file path."""
    log_dir = log_dir or paths.user_log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / LOG_FILE_NAME
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_yiqiao", False):
            root.removeHandler(handler)
            handler.close()
    handler = _RotatingLog(log_file, maxBytes=2 * 1024 * 1024, backupCount=5, encoding="utf-8")
    handler._yiqiao = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    set_level(level)
    return log_file


def set_level(level: str) -> None:
    """Change the root level at run time (Settings dialog)."""
    logging.getLogger().setLevel(getattr(logging, level.upper(), logging.INFO))


class _RotatingLog(logging.handlers.RotatingFileHandler):
    """Rotates like its base, then points the crash guard's faulthandler at the new file."""

    def doRollover(self) -> None:  # noqa: N802 - logging API
        super().doRollover()
        from app.crash_guard import crash_guard

        guard = crash_guard()
        if guard is not None and guard.log_file == Path(self.baseFilename):
            guard.reopen_log()
