"""Blobs: tus 1.0 uploads under /api/v1/blobs/uploads, content-addressed downloads with Range.

tus extensions: creation, creation-with-upload, checksum (sha1, sha256; 460 on mismatch),
expiration, termination. A chunk without Upload-Checksum that is cut off keeps every byte that
arrived (tus core: resume from HEAD's Upload-Offset); a chunk with one is kept whole or not at
all. ``POST /blobs/status`` answers for many blobs at once: held, or how far the caller's own
unfinished upload of it got. The final SHA-256 is verified before the blob becomes visible (and against
``sha256`` in Upload-Metadata when the client declares it).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import ClientDisconnect

from app.protocol.auth import ErrorBody, UserInfo
from app.protocol.sync import BlobStatusRequest, BlobStatusResponse
from hub import blobs, upload_lock
from hub.api.auth import signed_in
from hub.errors import HubError
from hub.state import HubState, client_ip, get_state

TUS_VERSION = "1.0.0"
BLOB_MEDIA_TYPE = "application/octet-stream"
# Non-empty base64 (an empty value would arrive as a trailing space, which HTTP strips).
_B64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)"
CHECKSUM_PATTERN = rf"^(?:sha1|sha256) {_B64}$"
_B64_OR_EMPTY = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
_META_PAIR = rf"[A-Za-z0-9_.-]{{1,100}}(?: +{_B64_OR_EMPTY})?"
METADATA_PATTERN = rf"^ *(?:{_META_PAIR}(?: *, *{_META_PAIR})*)? *$"
EXTENSIONS = "creation,creation-with-upload,checksum,expiration,termination"


class _HexConvertor(Convertor):
    """Path segments of exactly N lowercase hex digits: anything else (``/blobs/status``, a
    malformed id) does not match the route at all, so it is 404/405, never a 422."""

    length = 0

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _Sha256Convertor(_HexConvertor):
    regex = "[0-9a-f]{64}"


class _UploadIdConvertor(_HexConvertor):
    regex = "[0-9a-f]{32}"


register_url_convertor("sha256hex", _Sha256Convertor())
register_url_convertor("uploadid", _UploadIdConvertor())

SHA_PATH = Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the blob, lowercase hex")
ID_PATH = Path(pattern=r"^[0-9a-f]{32}$", description="upload id from the Location header")

_E = {"model": ErrorBody}
TUS_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _E,
    401: _E,
    404: _E,
    409: _E,
    410: _E,
    412: _E,
    413: _E,
    415: _E,
    422: _E,
    460: {"model": ErrorBody, "description": "checksum mismatch"},
}

router = APIRouter(prefix="/api/v1/blobs", tags=["blobs"])


def declare_tus(openapi: dict) -> None:
    """Say in the OpenAPI document what tus requires: ``Tus-Resumable: 1.0.0`` on every
    request but OPTIONS (the route answers 412 without it, as tus 1.0 says, so FastAPI must
    not refuse it first) and on every reply."""
    for path, ops in openapi.get("paths", {}).items():
        if not path.startswith("/api/v1/blobs/uploads"):
            continue
        for method, op in ops.items():
            if method == "options":
                continue
            for param in op.get("parameters", []):
                if param.get("in") == "header" and param.get("name") == "Tus-Resumable":
                    param["required"] = True
                    param["schema"] = {"type": "string", "enum": [TUS_VERSION]}
            for response in op.get("responses", {}).values():
                response.setdefault("headers", {})["Tus-Resumable"] = {
                    "required": True,
                    "schema": {"type": "string", "enum": [TUS_VERSION]},
                }


def _tus_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **(extra or {})}


def _require_tus(version: str | None) -> None:
    if version is None:  # not a tus request at all (tus 1.0 gives 412 to other versions)
        raise HubError(
            400,
            "missing_tus_version",
            f"send 'Tus-Resumable: {TUS_VERSION}'",
            headers={"Tus-Version": TUS_VERSION},
        )
    if version != TUS_VERSION:
        raise HubError(
            412,
            "unsupported_tus_version",
            f"send 'Tus-Resumable: {TUS_VERSION}'",
            headers={"Tus-Version": TUS_VERSION},
        )


def _expires(ts: float) -> str:
    return formatdate(ts, usegmt=True)


@router.options("/uploads", status_code=204, response_class=Response)
def tus_options(state: HubState = Depends(get_state)) -> Response:
    """tus discovery: version, extensions, max size, checksum algorithms."""
    return Response(
        status_code=204,
        headers=_tus_headers(
            {
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": EXTENSIONS,
                "Tus-Max-Size": str(state.config.max_blob_size),
                "Tus-Checksum-Algorithm": ",".join(blobs.CHECKSUM_ALGORITHMS),
            }
        ),
    )


def _is_offset_stream(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "application/offset+octet-stream"


@router.post("/uploads", status_code=201, response_class=Response, responses=TUS_ERRORS)
async def tus_create(
    request: Request,
    upload_length: int = Header(..., ge=0, le=2**62, alias="Upload-Length"),
    upload_metadata: str | None = Header(
        None, alias="Upload-Metadata", max_length=4096, pattern=METADATA_PATTERN
    ),
    content_type: str | None = Header(None, alias="Content-Type"),
    upload_checksum: str | None = Header(
        None, alias="Upload-Checksum", max_length=200, pattern=CHECKSUM_PATTERN
    ),
    tus_resumable: str | None = Header(None, alias="Tus-Resumable"),
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> Response:
    """Create an upload (metadata keys: filename, filetype, optional sha256 to verify). With
    ``Content-Type: application/offset+octet-stream`` the body is the first chunk
    (creation-with-upload): a small blob takes one round trip."""
    _require_tus(tus_resumable)
    meta = blobs.parse_metadata(upload_metadata)
    with_body = _is_offset_stream(content_type)
    checksum = blobs.parse_checksum(upload_checksum) if with_body else None
    await run_in_threadpool(blobs.purge_expired, state)
    upload_id, expires = await run_in_threadpool(
        blobs.create_upload, state, user, upload_length, meta
    )
    headers = {
        "Location": f"/api/v1/blobs/uploads/{upload_id}",
        "Upload-Expires": _expires(expires),
    }
    if with_body or upload_length == 0:
        headers.update(await _append(request, state, user, upload_id, 0, checksum))
    return Response(status_code=201, headers=_tus_headers(headers))


@router.post("/status", response_model=BlobStatusResponse, responses={401: _E, 422: _E})
async def blob_status(
    body: BlobStatusRequest,
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> BlobStatusResponse:
    """Which of these blobs the hub holds for you, and how far your unfinished uploads of the
    others got (one request instead of a HEAD per blob before uploading)."""
    found = await run_in_threadpool(blobs.blob_states, state, user, body.sha256)
    pending = [b.upload_url.rsplit("/", 1)[1] for b in found if b.upload_url]
    if await run_in_threadpool(upload_lock.busy, state.db, pending):
        # A chunk still being received (or its dropped connection not yet noticed): report
        # where it ends; after the wait a PATCH at a stale offset gets 409 with the right one.
        await upload_lock.wait_idle(state.db, pending, _BUSY_WAIT_S)
        found = await run_in_threadpool(blobs.blob_states, state, user, body.sha256)
    return BlobStatusResponse(blobs=found)


_BUSY_WAIT_S = 5.0


@router.head("/uploads/{upload_id:uploadid}", response_class=Response, responses=TUS_ERRORS)
async def tus_head(
    upload_id: str = ID_PATH,
    tus_resumable: str | None = Header(None, alias="Tus-Resumable"),
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> Response:
    """How many bytes the hub holds of this upload (resume from Upload-Offset)."""
    _require_tus(tus_resumable)
    await run_in_threadpool(blobs.get_upload, state, user, upload_id)
    await upload_lock.wait_idle(state.db, [upload_id], _BUSY_WAIT_S)
    row = await run_in_threadpool(blobs.get_upload, state, user, upload_id)
    headers = {
        "Upload-Offset": str(row.offset),
        "Upload-Length": str(row.length),
        "Upload-Expires": _expires(row.expires_at),
    }
    if row.sha256:
        headers["X-Blob-Sha256"] = row.sha256
    return Response(status_code=200, headers=_tus_headers(headers))


@router.patch(
    "/uploads/{upload_id:uploadid}",
    status_code=204,
    response_class=Response,
    responses=TUS_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/offset+octet-stream": {
                    "schema": {"type": "string", "format": "binary"}
                }
            },
        }
    },
)
async def tus_patch(
    request: Request,
    upload_id: str = ID_PATH,
    upload_offset: int = Header(..., ge=0, le=2**62, alias="Upload-Offset"),
    content_type: str | None = Header(None, alias="Content-Type"),
    upload_checksum: str | None = Header(
        None, alias="Upload-Checksum", max_length=200, pattern=CHECKSUM_PATTERN
    ),
    tus_resumable: str | None = Header(None, alias="Tus-Resumable"),
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> Response:
    """Append a chunk at Upload-Offset (409 if that is not the hub's offset)."""
    _require_tus(tus_resumable)
    if not _is_offset_stream(content_type):
        raise HubError(
            415,
            "wrong_content_type",
            "PATCH body must be 'Content-Type: application/offset+octet-stream'",
        )
    checksum = blobs.parse_checksum(upload_checksum)
    return Response(
        status_code=204,
        headers=_tus_headers(
            await _append(request, state, user, upload_id, upload_offset, checksum)
        ),
    )


async def _append(
    request: Request,
    state: HubState,
    user: UserInfo,
    upload_id: str,
    upload_offset: int,
    checksum: tuple[str, bytes] | None,
) -> dict[str, str]:
    """Receive the request body at ``upload_offset`` (one writer per upload); finish the blob
    when complete. Returns the tus headers of the reply."""
    try:
        async with upload_lock.hold(state.db, upload_id) as lease:
            row = await run_in_threadpool(blobs.get_upload, state, user, upload_id)
            if row.sha256 is not None:
                raise HubError(
                    409,
                    "upload_complete",
                    "this upload is already complete",
                    headers=_tus_headers({"Upload-Offset": str(row.offset)}),
                )
            if upload_offset != row.offset:
                raise HubError(
                    409,
                    "offset_mismatch",
                    f"Upload-Offset {upload_offset} does not match the hub's offset {row.offset}; send HEAD and resume",
                    headers=_tus_headers({"Upload-Offset": str(row.offset)}),
                )
            offset = await _receive(request, state, row, checksum, lease)
            headers = {"Upload-Offset": str(offset), "Upload-Expires": _expires(row.expires_at)}
            if offset == row.length:
                headers["X-Blob-Sha256"] = await run_in_threadpool(
                    blobs.finish_upload, state, user, row, client_ip(request)
                )
    except upload_lock.UploadBusy:
        raise _busy() from None
    return headers


def _busy() -> HubError:
    return HubError(
        409,
        "upload_busy",
        "another request is writing this upload (tus allows one at a time); "
        "wait for it to end, then send HEAD and resume",
        headers=_tus_headers(),
    )


class _LeaseLost(Exception):
    pass


async def _stream(request: Request, idle: float) -> AsyncIterator[bytes]:
    """The request body; a client silent for ``idle`` seconds counts as gone (what arrived
    is kept, as after a dropped connection), so a stalled upload cannot hold its lease."""
    blocks = request.stream().__aiter__()
    while True:
        try:
            block = await asyncio.wait_for(blocks.__anext__(), idle)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ClientDisconnect() from None
        yield block


async def _receive(
    request: Request,
    state: HubState,
    row,  # noqa: ANN001
    checksum: tuple[str, bytes] | None,
    lease: upload_lock.Lease,
) -> int:
    """Stream the body to the upload file. Bad chunks are cut off again (nothing partial stays
    but bytes of an interrupted chunk without checksum, which tus resumes from)."""
    start = row.offset
    digest = hashlib.new(checksum[0]) if checksum else None
    received = 0
    f = state.blobs.append(row.id, start)
    try:
        try:
            async for block in _stream(request, state.config.body_idle_timeout):
                if lease.lost:  # another request owns the upload now: touch nothing more
                    f.close()
                    raise _LeaseLost
                if start + received + len(block) > row.length:
                    raise HubError(
                        413,
                        "chunk_too_long",
                        f"the chunk goes past Upload-Length {row.length}; nothing of it was kept",
                    )
                f.write(block)
                received += len(block)
                if digest:
                    digest.update(block)
        except ClientDisconnect:
            if checksum:  # an unverifiable partial chunk is worth nothing
                received = 0
        if checksum and digest is not None and digest.digest() != checksum[1]:
            raise HubError(
                460,
                "checksum_mismatch",
                f"the chunk's {checksum[0]} does not match Upload-Checksum; nothing of it was kept",
            )
    except HubError:
        f.close()
        await run_in_threadpool(state.blobs.truncate, row.id, start)
        raise
    except _LeaseLost:
        raise _busy() from None
    f.flush()
    f.close()
    await run_in_threadpool(state.blobs.truncate, row.id, start + received)
    await run_in_threadpool(blobs.set_offset, state, row.id, start + received)
    return start + received


@router.delete(
    "/uploads/{upload_id:uploadid}", status_code=204, response_class=Response, responses=TUS_ERRORS
)
async def tus_delete(
    upload_id: str = ID_PATH,
    tus_resumable: str | None = Header(None, alias="Tus-Resumable"),
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> Response:
    """tus termination: discard an unfinished upload."""
    _require_tus(tus_resumable)
    await run_in_threadpool(blobs.get_upload, state, user, upload_id)
    try:
        async with upload_lock.hold(state.db, upload_id):
            await run_in_threadpool(blobs.terminate, state, upload_id)
    except upload_lock.UploadBusy:
        raise _busy() from None
    return Response(status_code=204, headers=_tus_headers())


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One byte range → (start, end) inclusive; None = whole blob; 416 if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # multi-range or malformed: RFC 9110 lets us ignore Range
    if not m.group(1):
        n = int(m.group(2))
        if n == 0:
            raise HubError(
                416,
                "range_not_satisfiable",
                "empty suffix range",
                headers={"Content-Range": f"bytes */{size}"},
            )
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        raise HubError(
            416,
            "range_not_satisfiable",
            f"range {header[:60]} is outside 0..{size - 1}",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, min(end, size - 1)


@router.get(
    "/{sha256:sha256hex}",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {"description": "partial content"},
        401: _E,
        404: _E,
        416: _E,
        422: _E,
    },
)
def download(
    request: Request,
    sha256: str = SHA_PATH,
    range_header: str | None = Header(None, alias="Range", max_length=200),
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> StreamingResponse:
    """Download a blob you may read; supports a single HTTP Range (206)."""
    blobs.blob_for_reader(state, user, sha256, client_ip(request), record=True)
    size = state.blobs.size(sha256)
    rng = _parse_range(range_header, size)
    # Never the uploader's content type: a text/html "image" must not render in a browser.
    # What the file is travels in the attachment document (AttachmentBlob.media_type).
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{sha256}"',
        "Cache-Control": "private, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{sha256}"',
    }
    if size == 0:
        return StreamingResponse(iter([b""]), media_type=BLOB_MEDIA_TYPE, headers=headers)
    start, end = rng if rng else (0, size - 1)
    headers["Content-Length"] = str(end - start + 1)
    status = 200
    if rng:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        state.blobs.open_range(sha256, start, end),
        status_code=status,
        media_type=BLOB_MEDIA_TYPE,
        headers=headers,
    )


@router.head("/{sha256:sha256hex}", response_class=Response, responses={401: _E, 404: _E, 422: _E})
def blob_exists(
    request: Request,
    sha256: str = SHA_PATH,
    user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> Response:
    """Whether the hub holds a blob you may read (skip uploading what is already there)."""
    row = blobs.blob_for_reader(state, user, sha256, client_ip(request), record=False)
    return Response(
        status_code=200, headers={"Content-Length": str(row.size), "Accept-Ranges": "bytes"}
    )
