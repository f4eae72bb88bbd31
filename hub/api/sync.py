"""/api/v1/sync/* (push, pull, reconcile) and /api/v1/documents/{id}."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request

from app.protocol.auth import UserInfo
from app.protocol.sync import (
    MAX_PULL_LIMIT,
    MAX_PUSH_BATCH,
    Document,
    PullResponse,
    PushRequest,
    PushResponse,
    ReconcileRequest,
    ReconcileResponse,
)
from hub import records
from hub.api import ERRORS
from hub.api.auth import signed_in
from hub.errors import HubError
from hub.signaling import hints
from hub.state import HubState, client_ip, get_state

router = APIRouter(prefix="/api/v1", tags=["sync"], responses=ERRORS)


@router.post("/sync/push", response_model=PushResponse)
def push(
    body: PushRequest,
    request: Request,
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> PushResponse:
    """Apply document changes in order; one result per change (idempotent by change_id)."""
    if len(body.changes) > MAX_PUSH_BATCH:
        raise HubError(
            413,
            "batch_too_large",
            f"{len(body.changes)} changes in one push; the hub takes at most {MAX_PUSH_BATCH}",
        )
    results = records.push(state.db, user, body.changes, client_ip(request))
    hints.publish_after_push(request.app, user, results)
    return PushResponse(results=results)


@router.get("/sync/pull", response_model=PullResponse)
def pull(
    request: Request,
    since: int = Query(
        0, ge=0, le=2**62, description="cursor from the previous pull (0 = everything)"
    ),
    limit: int = Query(500, ge=1, le=MAX_PULL_LIMIT),
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> PullResponse:
    """Documents in your scope changed after ``since``, oldest first; deletes as tombstones."""
    return records.pull(state.db, user, since, limit, client_ip(request))


@router.post("/sync/reconcile", response_model=ReconcileResponse)
def reconcile(
    body: ReconcileRequest,
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> ReconcileResponse:
    """Compare the client's digest of (id, rev) pairs with the hub's for your scope."""
    return records.reconcile(state.db, user, body.digest, body.count)


@router.get("/documents/{doc_id}", response_model=Document)
def get_document(
    doc_id: uuid.UUID,
    request: Request,
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> Document:
    """One document you may read (404 if it does not exist or is outside your scope)."""
    doc = records.read_document(state.db, user, doc_id, client_ip(request))
    if doc is None:
        raise HubError(404, "not_found", f"no document {doc_id} in your scope")
    return doc
