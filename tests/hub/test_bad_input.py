"""Hostile and malformed input: always a 4xx ErrorBody naming the problem, nothing stored
— on SQLite and on PostgreSQL (whose text type refuses NUL characters)."""

from __future__ import annotations

import base64
import json

import sqlalchemy as sa

from app.protocol.auth import ErrorBody
from app.protocol.sync import MAX_PUSH_BATCH
from hub import db as t
from tests.hub.conftest import change, make_patient, new_id, push


def _count(net) -> int:
    with net.state.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.documents)).scalar_one()


def _error(r, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = ErrorBody.model_validate(r.json())
    assert body.error == code
    return body.message


def test_nul_characters_are_refused_with_a_reason(net):
    c = net.client("doc_a")
    before = _count(net)
    r = c.post(
        "/api/v1/sync/push", json={"changes": [change(new_id(), "patient", {"name": "王\x00秀英"})]}
    )
    assert "NUL" in _error(r, 422, "invalid_text")
    r = c.post("/api/v1/auth/login", json={"username": "doc\x00a", "password": "x"})
    _error(r, 422, "invalid_text")
    _error(c.get("/api/v1/users", params={"facility_id": "a\x00"}), 422, "invalid_text")
    # tus metadata values are bytes: a NUL in a file name is kept as U+FFFD, never stored raw.
    meta = "filename " + base64.b64encode("片\x00.dcm".encode()).decode()
    r = c.post(
        "/api/v1/blobs/uploads",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": "3", "Upload-Metadata": meta},
    )
    assert r.status_code == 201, r.text
    with net.state.db.read() as conn:
        stored = conn.execute(
            sa.select(t.uploads.c.meta).where(t.uploads.c.id == r.headers["Location"][-32:])
        ).scalar_one()
    assert stored["filename"] == "片\ufffd.dcm"
    assert _count(net) == before, "nothing was stored"


def test_malformed_pushes(net):
    c = net.client("doc_a")
    pid = make_patient(c)
    before = _count(net)
    # Not JSON, wrong shapes, unknown fields, bad UUIDs, bad enums, out-of-range numbers.
    bodies = [
        b"{",
        b"[]",
        b'{"changes": 5}',
        b'{"changes": [{"id": "nope"}]}',
        json.dumps({"changes": [{**change(new_id(), "patient", {}), "type": "xray"}]}).encode(),
        json.dumps({"changes": [{**change(new_id(), "patient", {}), "base_rev": -1}]}).encode(),
        json.dumps({"changes": [{**change(new_id(), "patient", {}), "base_rev": 2**70}]}).encode(),
        json.dumps({"changes": [{**change(new_id(), "patient", {}), "evil": 1}]}).encode(),
        json.dumps({"changes": [{**change(new_id(), "patient", {}), "fields": [1, 2]}]}).encode(),
    ]
    for body in bodies:
        r = c.post("/api/v1/sync/push", content=body, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (body, r.status_code)
        assert ErrorBody.model_validate(r.json()).message
    deep = json.dumps({"changes": [change(new_id(), "note", {"x": "D"}, patient_id=pid)]}).replace(
        '"D"', "[" * 200 + "]" * 200
    )
    r = c.post("/api/v1/sync/push", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["results"][0]["reason"] == "invalid"
    too_many = [
        change(new_id(), "note", {"t": i}, patient_id=pid) for i in range(MAX_PUSH_BATCH + 1)
    ]
    r = c.post("/api/v1/sync/push", json={"changes": too_many})
    assert str(MAX_PUSH_BATCH) in _error(r, 413, "batch_too_large")
    big = {"changes": [change(new_id(), "note", {"t": "x" * (300 * 1024)}, patient_id=pid)]}
    (res,) = push(c, big["changes"][0])
    assert res["reason"] == "too_large"
    assert _count(net) == before, "nothing was stored"


def test_bad_query_and_path_values(net):
    c = net.client("doc_a")
    _error(c.get("/api/v1/sync/pull", params={"since": -1}), 422, "invalid_request")
    _error(c.get("/api/v1/sync/pull", params={"since": 2**70}), 422, "invalid_request")
    _error(c.get("/api/v1/sync/pull", params={"limit": 0}), 422, "invalid_request")
    _error(c.get("/api/v1/documents/not-a-uuid"), 422, "invalid_request")
    _error(c.get("/api/v1/blobs/" + "z" * 64), 404, "not_found")  # no such route
    _error(c.get("/api/v1/nowhere"), 404, "not_found")
    _error(c.put("/api/v1/sync/push", json={}), 405, "method_not_allowed")
