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
import html
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

from app.protocol import PROTOCOL_VERSION
from app.protocol.sync import PROTOCOL_HEADER
from hub import signaling
from hub.api import auth as auth_api
from hub.api import blobs as blobs_api
from hub.api import directory as directory_api
from hub.api import ops as ops_api
from hub.api import sync as sync_api
from hub.api.openapi import tighten
from hub.blobstore import FileBlobStore
from hub.config import HubConfig
from hub.db import Database
from hub.edge import EdgeGuard
from hub.errors import TUS_PATH, error_response, install_error_handlers
from hub.logs import log_request
from hub.signaling import router as signaling_router
from hub.state import HubState, is_https


def api_docs_html(openapi: dict) -> str:
    """A plain HTML list of the operations of an OpenAPI document."""
    rows = []
    for path, ops in openapi.get("paths", {}).items():
        for method, op in ops.items():
            summary = html.escape(op.get("summary", ""))
            doc = html.escape(op.get("description", ""))
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td><b>{summary}</b><br>{doc}</td></tr>"
            )
    return (
        "<!doctype html><meta charset=utf-8><title>YiQiao hub API</title>"
        "<h1>YiQiao hub API</h1><p>Machine-readable: "
        '<a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p>'
        "<table border=1 cellpadding=4>" + "".join(rows) + "</table>"
    )


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
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN: see api_docs below
        redoc_url=None,
    )

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            tighten(schema)
            blobs_api.declare_tus(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/api/v1/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs() -> HTMLResponse:
        """The API at a glance, with no script from anywhere (the JSON is the reference)."""
        return HTMLResponse(api_docs_html(openapi()))

    app.state.hub = state
    install_error_handlers(app)
    # Added before the logging middleware, so it runs inside it: refusals are logged too.
    app.add_middleware(EdgeGuard, idle_timeout=config.body_idle_timeout)
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
        if version is not None and version.strip() != str(PROTOCOL_VERSION):
            response: Response = error_response(
                400,
                "unsupported_protocol",
                f"this hub speaks protocol {PROTOCOL_VERSION}, the request says {version[:20]!r}; update the client",
            )
        else:
            response = await call_next(request)
        if request.url.path.startswith(TUS_PATH):  # tus: every reply says its version
            response.headers.setdefault("Tus-Resumable", "1.0.0")
        if is_https(request):
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
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
