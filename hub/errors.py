"""One error shape for every failure: ``ErrorBody`` JSON with a stable code and a sentence."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.protocol.auth import ErrorBody
from app.protocol.problems import Problem, problem_from_error

log = logging.getLogger("hub.errors")
TUS_PATH = "/api/v1/blobs/uploads"
TUS_HEADERS = {"Tus-Resumable": "1.0.0"}


class HubError(Exception):
    """Raise to answer with ``status`` and an ErrorBody."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        headers: dict[str, str] | None = None,
        detail: list[dict] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}
        self.detail = detail


def error_response(
    status: int,
    error: str,
    message: str,
    headers: dict[str, str] | None = None,
    detail: list[dict] | None = None,
    problems: list[Problem] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=error, message=message, detail=detail, problems=problems).model_dump(
        mode="json", exclude_none=True
    )
    return JSONResponse(body, status_code=status, headers=headers or {})


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    411: "length_required",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    429: "too_many_requests",
}


def _clean_detail(errors: list) -> list[dict]:
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        out.append({"loc": loc, "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    return out


_WHERE = ("body", "query", "path", "header", "cookie")


def validation_problems(errors: list) -> list[Problem]:
    """FastAPI's validation errors as Problems whose field is the path inside the body (or
    the query), e.g. ``changes.0.fields.birth_date``."""
    out = []
    for e in errors:
        loc = list(e.get("loc", ()))
        if loc[:1] and loc[0] in _WHERE:
            loc = loc[1:]
        out.append(problem_from_error({**e, "loc": loc}))
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to ErrorBody JSON; nothing unhandled leaks as HTML or a bare 500."""

    @app.exception_handler(HubError)
    async def _hub_error(_req: Request, exc: HubError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.message, exc.headers, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(req: Request, exc: RequestValidationError) -> JSONResponse:
        detail = _clean_detail(list(exc.errors()))
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"]) or "request"
        if req.url.path.startswith(TUS_PATH) and first["loc"][:1] == ["header"]:
            # tus 1.0: a missing or malformed Upload-Length / Upload-Offset is 400.
            return error_response(
                400, "invalid_header", f"{where}: {first['msg']}", TUS_HEADERS, detail=detail
            )
        return error_response(
            422,
            "invalid_request",
            f"{where}: {first['msg']}",
            detail=detail,
            problems=validation_problems(list(exc.errors())),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, dict(exc.headers or {}))

    @app.exception_handler(sa_exc.DataError)
    async def _data(req: Request, exc: sa_exc.DataError) -> JSONResponse:
        # A value the database cannot store (e.g. out of range); the transaction rolled back.
        # The database's own words stay in the log: they quote the data and name the schema.
        log.warning(
            "database refused data on %s %s: %s", req.method, req.url.path, str(exc.orig)[:200]
        )
        return error_response(
            422,
            "invalid_data",
            "the database cannot store a value of this request (a number out of range?)",
        )

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", req.method, req.url.path)
        return error_response(500, "internal_error", "the hub failed to handle this request")
