"""Liveness and readiness probes (for the reverse proxy / orchestrator)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from hub.state import HubState, get_state

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready"}})
def readyz(state: HubState = Depends(get_state)) -> JSONResponse:
    """The process can serve: migrations done and the database answers."""
    try:
        state.db.ping()
    except Exception as exc:  # noqa: BLE001 - any database failure means "not ready"
        return JSONResponse(
            {"status": "unavailable", "reason": type(exc).__name__}, status_code=503
        )
    if not state.ready:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ready"})
