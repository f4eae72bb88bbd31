"""The per-process hub state shared by routes: config, database, blob store."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from hub.blobstore import BlobStore
from hub.config import HubConfig
from hub.db import Database


@dataclass
class HubState:
    config: HubConfig
    db: Database
    blobs: BlobStore
    ready: bool = False


def get_state(request: Request) -> HubState:
    """FastAPI dependency: this process's hub state (``request.app.state.hub``)."""
    return request.app.state.hub


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""
