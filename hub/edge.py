"""The hub's edge: what a request must be before any route reads it.

A pure ASGI middleware, so nothing is buffered before it decides:

- ``Content-Length`` together with ``Transfer-Encoding`` is refused (400): a proxy and the
  hub could frame such a request differently (request smuggling).
- A request with a body names a content type the hub speaks — ``application/json`` (UTF-8),
  or ``application/offset+octet-stream`` for tus uploads — or gets 415.
- A JSON body to anything but sign-in is read only after its access token checks out (401
  first), and is read as a stream that stops at the size limit (413) or when the client goes
  quiet (408): an anonymous 300 MB POST costs the hub nothing.
- JSON text is strict (``app.protocol.text``): a lone surrogate, NUL, non-character or a
  NaN anywhere gets 422 naming the field, so everything the hub stores it can serve back.

tus bodies stream straight to their route (which authenticates first and bounds them by
Upload-Length).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.protocol.problems import Problem
from app.protocol.text import find_bad_text
from hub.auth import user_from_token
from hub.errors import error_response

MAX_JSON_BODY = 32 * 1024 * 1024  # a full push batch of large documents fits easily
MAX_PUBLIC_BODY = 64 * 1024  # sign-in and refresh: a username, a password, a token
PUBLIC_JSON_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/auth/refresh"})
TUS_PREFIX = "/api/v1/blobs/uploads"
DRAIN_LIMIT = 64 * 1024  # a refused body this small is read first (see EdgeGuard._drain)
DRAIN_TIMEOUT = 5.0
JSON = "application/json"
OFFSET_STREAM = "application/offset+octet-stream"


class _Refuse(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        headers: dict | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        super().__init__(message)
        self.args3 = (status, error, message, headers or {})
        self.problems = problems
        self.body_read = False  # set once the whole body was read (e.g. 422 on its text)


def _header(scope: Scope, name: bytes) -> list[bytes]:
    return [v for k, v in scope["headers"] if k.lower() == name]


def _media_type(scope: Scope) -> tuple[str, str]:
    """(media type, charset) of the request, lowercased."""
    raw = b",".join(_header(scope, b"content-type")).decode("latin-1")
    media, _, params = raw.partition(";")
    charset = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _has_body(scope: Scope) -> bool:
    lengths = _header(scope, b"content-length")
    if _header(scope, b"transfer-encoding"):
        return True
    return any(v.strip() not in (b"", b"0") for v in lengths)


def _parse_constant(name: str) -> Any:
    # Kept as a float so that find_bad_text names where it is (and refuses it).
    return float(name)


class EdgeGuard:
    """See the module docstring. ``idle_timeout``: seconds a body may pause between reads."""

    def __init__(self, app: ASGIApp, idle_timeout: float = 60.0) -> None:
        self.app = app
        self.idle_timeout = idle_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            receive = await self._check(scope, receive)
        except _Refuse as refusal:
            status, error, message, headers = refusal.args3
            if scope["path"].startswith(TUS_PREFIX):
                headers = {"Tus-Resumable": "1.0.0", **headers}
            if not (refusal.body_read or await self._drain(scope, receive)):
                # A large or unfinished body is not read: answer, then close the connection.
                headers = {"Connection": "close", **headers}
            await error_response(status, error, message, headers, None, refusal.problems)(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope, receive: Receive) -> Receive:
        path, query = scope["path"], scope.get("query_string", b"")
        if "\x00" in path or b"%00" in query or b"\x00" in query:
            raise _Refuse(422, "invalid_text", "the URL contains a NUL (U+0000) character")
        if _header(scope, b"content-length") and _header(scope, b"transfer-encoding"):
            raise _Refuse(
                400,
                "ambiguous_length",
                "the request has both Content-Length and Transfer-Encoding; send one",
            )
        if len(_header(scope, b"content-length")) > 1:
            raise _Refuse(400, "ambiguous_length", "the request has several Content-Length headers")
        if not _has_body(scope):
            return receive
        media, charset = _media_type(scope)
        if media == OFFSET_STREAM and path.startswith(TUS_PREFIX):
            return receive
        if media != JSON or charset not in ("", "utf-8"):
            shown = (media or "none")[:60]
            raise _Refuse(
                415,
                "unsupported_media_type",
                f"content type {shown!r} is not accepted here; send 'application/json' "
                f"(UTF-8), or 'application/offset+octet-stream' for tus uploads",
            )
        public = path in PUBLIC_JSON_PATHS
        if not public:
            await self._authenticate(scope)
        limit = MAX_PUBLIC_BODY if public else MAX_JSON_BODY
        body = await self._read(scope, receive, limit)
        try:
            self._check_json(body)
        except _Refuse as refusal:
            refusal.body_read = True
            raise
        return _replay(body, receive)

    @staticmethod
    async def _drain(scope: Scope, receive: Receive) -> bool:
        """Read a small refused body to its end; True if nothing of it is left unread.

        A socket closed with unread bytes in its buffer is reset (TCP RST), and the reset can
        reach the client before our answer does: an expired token's 401 on a push then looks
        like a network failure (seen at load on a one-line body). A small body read to its end
        lets the answer arrive and the connection be reused; a large one is not worth it."""
        if not _has_body(scope):
            return True
        declared = _header(scope, b"content-length")
        if _header(scope, b"transfer-encoding") or not declared:
            return False
        length = declared[0].strip()
        if not length.isdigit() or int(length) > DRAIN_LIMIT:
            return False
        try:
            while True:
                message = await asyncio.wait_for(receive(), DRAIN_TIMEOUT)
                if message["type"] == "http.disconnect":
                    return False
                if not message.get("more_body", False):
                    return True
        except TimeoutError:
            return False

    async def _authenticate(self, scope: Scope) -> None:
        """401 before the body is read; the route reuses the user we found."""
        header = b",".join(_header(scope, b"authorization")).decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refuse(
                401,
                "not_authenticated",
                "sign in first: send 'Authorization: Bearer <access token>'",
                {"WWW-Authenticate": "Bearer"},
            )
        db = scope["app"].state.hub.db
        user = await run_in_threadpool(user_from_token, db, token.strip())
        if user is None:
            raise _Refuse(
                401,
                "invalid_token",
                "the access token is unknown, expired or revoked; refresh or sign in again",
                {"WWW-Authenticate": "Bearer"},
            )
        scope.setdefault("state", {})["edge_user"] = (token.strip(), user)

    async def _read(self, scope: Scope, receive: Receive, limit: int) -> bytes:
        declared = _header(scope, b"content-length")
        if declared and declared[0].strip().isdigit() and int(declared[0]) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout)
            except TimeoutError:
                raise _Refuse(
                    408,
                    "request_timeout",
                    f"the request body stalled for {self.idle_timeout:.0f} s; send it again",
                ) from None
            if message["type"] == "http.disconnect":
                raise _Refuse(400, "incomplete_body", "the connection closed mid-body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _check_json(body: bytes) -> None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Refuse(
                422, "invalid_text", f"the body is not valid UTF-8 (byte {exc.start})"
            ) from None
        try:
            value = json.loads(text, parse_constant=_parse_constant)
        except ValueError:
            return  # not JSON at all: the route's validation names the problem
        except RecursionError:
            raise _Refuse(422, "invalid_request", "the JSON is nested too deeply") from None
        found = find_bad_text(value)
        if found:
            where, problem = found
            field = "" if where == "body" else where[:200]
            if "finite number" in problem:
                raise _Refuse(
                    422,
                    "invalid_number",
                    f"{where[:200]}: NaN and Infinity are not numbers JSON allows",
                    problems=[Problem(field, "not_finite")],
                )
            raise _Refuse(
                422,
                "invalid_text",
                f"{where[:200]}: {problem}",
                problems=[Problem(field, "bad_text")],
            )


def _too_large(limit: int) -> _Refuse:
    return _Refuse(
        413, "body_too_large", f"JSON bodies are limited to {limit} bytes; send smaller batches"
    )


def _replay(body: bytes, original: Receive) -> Receive:
    """The body we read, then the server's own messages (a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive
