"""HTTP routes of the hub, one module per area, all under ``/api/v1``."""

from typing import Any

from app.protocol.auth import ErrorBody

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422, 429)
}
"""Error responses every JSON route may give (all ErrorBody)."""
