"""The hub application factory.

``create_app(config)`` builds a FastAPI app whose state lives in the database and blob store
named by ``config`` — app processes are stateless, so several may run behind one proxy.

Mounting another router (e.g. WebSocket signaling): ``hub/signaling/__init__.py`` exposes
``router`` (an ``APIRouter``) and ``create_app`` includes it below. Inside a handler use
``hub.auth.user_from_token(ws.app.state.hub.db, token)`` and
``hub.access.is_participant(ws.app.state.hub.db, user, consultation_id)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response

from app.protocol import PROTOCOL_VERSION
from app.protocol.sync import PROTOCOL_HEADER
from hub import signaling
from hub.api import auth as auth_api
from hub.api import blobs as blobs_api
from hub.api import directory as directory_api
from hub.api import ops as ops_api
from hub.api import sync as sync_api
from hub.blobstore import FileBlobStore
from hub.config import HubConfig
from hub.db import Database
from hub.errors import error_response, install_error_handlers
from hub.logs import log_request
from hub.signaling import router as signaling_router
from hub.state import HubState

# A JSON string escape for U+0000 that is not itself an escaped backslash.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


MAX_JSON_BODY = 32 * 1024 * 1024  # a full push batch of large documents fits easily


async def _body_problem(request: Request) -> tuple[int, str, str] | None:
    """Refuse what cannot be stored before any route runs: JSON bodies over MAX_JSON_BODY,
    and NUL characters (PostgreSQL text refuses them; they never belong in clinical text)."""
    if "\x00" in request.url.path or "%00" in request.url.query or "\x00" in request.url.query:
        return 422, "invalid_text", "the URL contains a NUL (U+0000) character"
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return None
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_JSON_BODY:
        return (
            413,
            "body_too_large",
            f"JSON bodies are limited to {MAX_JSON_BODY} bytes; send smaller batches",
        )
    body = await request.body()
    if len(body) > MAX_JSON_BODY:
        return (
            413,
            "body_too_large",
            f"JSON bodies are limited to {MAX_JSON_BODY} bytes; send smaller batches",
        )
    if _JSON_NUL.search(body):
        return (
            422,
            "invalid_text",
            "the JSON body contains a NUL (U+0000) character in a string; remove it",
        )
    return None


def create_app(config: HubConfig) -> FastAPI:
    """A ready hub app: database migrated, blob store opened, routes mounted."""
    db = Database(config.database_url)
    db.migrate()
    state = HubState(config=config, db=db, blobs=FileBlobStore(config.blob_dir, config.upload_dir))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Signaling joins the other hub processes (presence, shared call timers) at start
        # and leaves cleanly at shutdown.
        app.state.loop = asyncio.get_running_loop()  # for notify_users from worker threads
        await signaling.start(app)
        try:
            yield
        finally:
            await signaling.stop(app)

    app = FastAPI(
        lifespan=lifespan,
        title="YiQiao hub",
        version=str(PROTOCOL_VERSION),
        description="Accounts, records sync, resumable blob uploads (tus 1.0), audit.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.hub = state
    install_error_handlers(app)
    for router in (
        ops_api.router,
        auth_api.router,
        directory_api.router,
        sync_api.router,
        blobs_api.router,
    ):
        app.include_router(router)
    app.include_router(signaling_router)

    @app.middleware("http")
    async def protocol_and_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        rid = request.headers.get("x-request-id", "")[:64] or secrets.token_hex(8)
        version = request.headers.get(PROTOCOL_HEADER)
        problem = await _body_problem(request)
        if problem:
            response: Response = error_response(*problem)
        elif version is not None and version.strip() != str(PROTOCOL_VERSION):
            response = error_response(
                400,
                "unsupported_protocol",
                f"this hub speaks protocol {PROTOCOL_VERSION}, the request says {version[:20]!r}; update the client",
            )
        else:
            response = await call_next(request)
        response.headers[PROTOCOL_HEADER] = str(PROTOCOL_VERSION)
        response.headers["X-Request-Id"] = rid
        user = getattr(request.state, "user", None)
        log_request(
            request.method,
            request.url.path,
            response.status_code,
            started,
            request.client.host if request.client else "",
            user.username if user else "",
            rid,
        )
        return response

    state.ready = True
    return app
