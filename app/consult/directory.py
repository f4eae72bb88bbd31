"""The hub's directory kept in the local cache, so a request can be drafted offline."""

from __future__ import annotations

from app.protocol.directory import DirectoryResponse
from app.sync.cache import Cache
from app.sync.hub_client import HubClient

STATE_KEY = "directory"


def refresh(client: HubClient, cache: Cache) -> DirectoryResponse:
    """Fetch the directory and keep it (raises the client's typed errors when offline)."""
    directory = client.directory()
    cache.set_state(STATE_KEY, directory.model_dump_json())
    return directory


def load(cache: Cache) -> DirectoryResponse:
    """The last directory fetched (empty before the first successful refresh)."""
    raw = cache.get_state(STATE_KEY)
    if not raw:
        return DirectoryResponse(facilities=[])
    try:
        return DirectoryResponse.model_validate_json(raw)
    except ValueError:
        return DirectoryResponse(facilities=[])
