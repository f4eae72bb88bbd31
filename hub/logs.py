"""Structured logs: one JSON object per line on stderr (request id, user, status, timing)."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # we log requests ourselves


def log_request(
    method: str, path: str, status: int, started: float, ip: str, user: str, rid: str
) -> None:
    logging.getLogger("hub.request").info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "fields": {
                "method": method,
                "path": path,
                "status": status,
                "ip": ip,
                "user": user,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "request_id": rid,
            }
        },
    )
