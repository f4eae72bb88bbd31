"""Every endpoint × every role and facility: who is allowed, who is refused.

The world: clinic A's patient with a consultation sent to the county hospital's radiology
(assigned to ``radiologist``), a note and a DICOM attachment in it, and a private note that
belongs to clinic A only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
from pydicom.data import get_testdata_file

from hub import db as t
from tests.hub.conftest import NETWORK_USERS, change, consent, new_id, pull_all, push

TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class World:
    patient: str
    consultation: str
    note: str
    private_note: str
    attachment: str
    blob: str
    upload: str  # an unfinished upload of doc_a


@pytest.fixture(scope="module")
def world(net) -> World:
    doc = net.client("doc_a")
    data = open(get_testdata_file("MR_small.dcm"), "rb").read() + b"access-test"
    loc = doc.post(
        "/api/v1/blobs/uploads", headers={**TUS, "Upload-Length": str(len(data))}
    ).headers["Location"]
    r = doc.patch(
        loc,
        content=data,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    sha = r.headers["X-Blob-Sha256"]
    assert sha == hashlib.sha256(data).hexdigest()
    pending = doc.post("/api/v1/blobs/uploads", headers={**TUS, "Upload-Length": "100"}).headers[
        "Location"
    ]
    w = World(new_id(), new_id(), new_id(), new_id(), new_id(), sha, pending.rsplit("/", 1)[1])
    res = push(
        doc,
        change(w.patient, "patient", {"name": "王秀英"}),
        change(
            w.consultation,
            "consultation",
            {
                "status": "submitted",
                "target_facility_id": "county",
                "department": "放射科",
                "specialist_id": net.users["radiologist"],
                "purpose": "明确诊断",
                "consent": consent(doc),
            },
            patient_id=w.patient,
        ),
        change(
            w.note, "note", {"text": "咳嗽"}, patient_id=w.patient, consultation_id=w.consultation
        ),
        change(w.private_note, "note", {"text": "家庭情况"}, patient_id=w.patient),
        change(
            w.attachment,
            "attachment",
            {"blobs": [{"sha256": sha, "name": "MR_small.dcm"}]},
            patient_id=w.patient,
            consultation_id=w.consultation,
        ),
    )
    assert {r["status"] for r in res} == {"applied"}, res
    return w


SHARED = {
    "patient",
    "consultation",
    "note",
    "attachment",
    "blob",
}  # what consultation participants see
EVERYTHING = SHARED | {"private_note"}
SEES: dict[str, set[str]] = {
    "doc_a": EVERYTHING,  # the requesting clinic
    "admin_a": EVERYTHING,  # same facility
    "doc_b": set(),  # another clinic
    "radiologist": SHARED,  # assigned specialist
    "coord": SHARED,  # coordinator of the target facility
    "cardiologist": set(),  # same hospital, other department, not assigned
    "prov_spec": set(),  # same department name, other facility
}
assert set(SEES) == set(NETWORK_USERS)


def _rev(net, doc_id: str) -> int:
    with net.state.db.read() as conn:
        return conn.execute(
            sa.select(t.documents.c.rev).where(t.documents.c.id == doc_id)
        ).scalar_one()


def _call(net, w: World, c: httpx.Client, endpoint: str) -> httpx.Response | str:
    """Perform one endpoint; returns the response (or, for push/pull, 'allowed'/'denied')."""
    if endpoint.startswith("read:"):
        return c.get(f"/api/v1/documents/{getattr(w, endpoint[5:])}")
    if endpoint == "blob:get":
        return c.get(f"/api/v1/blobs/{w.blob}", headers={"Range": "bytes=0-9"})
    if endpoint == "blob:head":
        return c.head(f"/api/v1/blobs/{w.blob}")
    if endpoint == "pull":
        docs, _ = pull_all(c, 0)
        ids = {d["id"] for d in docs}
        return {
            k
            for k in ("patient", "consultation", "note", "private_note", "attachment")
            if getattr(w, k) in ids
        }
    if endpoint == "push:edit-note":
        (r,) = push(
            c,
            change(
                w.note,
                "note",
                {"text": f"咳嗽 {new_id()[:4]}"},
                base_rev=_rev(net, w.note),
                patient_id=w.patient,
                consultation_id=w.consultation,
            ),
        )
        return r["status"]
    if endpoint == "push:add-note":
        (r,) = push(
            c,
            change(
                new_id(),
                "note",
                {"text": "会诊意见"},
                patient_id=w.patient,
                consultation_id=w.consultation,
            ),
        )
        return r["status"]
    if endpoint == "push:edit-private":
        (r,) = push(
            c,
            change(
                w.private_note,
                "note",
                {"text": new_id()},
                base_rev=_rev(net, w.private_note),
                patient_id=w.patient,
            ),
        )
        return r["status"]
    if endpoint == "upload:head":
        return c.head(f"/api/v1/blobs/uploads/{w.upload}", headers=TUS)
    if endpoint == "upload:patch":
        return c.patch(
            f"/api/v1/blobs/uploads/{w.upload}",
            content=b"",
            headers={
                **TUS,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )
    if endpoint == "upload:create":
        return c.post("/api/v1/blobs/uploads", headers={**TUS, "Upload-Length": "10"})
    if endpoint == "reconcile":
        return c.post("/api/v1/sync/reconcile", json={"digest": "0" * 64, "count": 0})
    method, path = endpoint.split(" ")
    return c.request(method, path)


def _expected(username: str, endpoint: str) -> bool:
    sees = SEES[username]
    if endpoint.startswith("read:"):
        return endpoint[5:] in sees
    if endpoint.startswith("blob:"):
        return "blob" in sees
    if endpoint == "push:edit-note":
        return "private_note" in sees  # a record is edited only by the facility that wrote it
    if endpoint == "push:add-note":
        return "note" in sees
    if endpoint == "push:edit-private":
        return "private_note" in sees
    if endpoint in ("upload:head", "upload:patch"):
        return username == "doc_a"  # an upload belongs to the user who started it
    return True  # directory, /me, reconcile, creating uploads: any signed-in user


ENDPOINTS = [
    "read:patient",
    "read:consultation",
    "read:note",
    "read:private_note",
    "read:attachment",
    "blob:get",
    "blob:head",
    "push:edit-note",
    "push:add-note",
    "push:edit-private",
    "upload:create",
    "upload:head",
    "upload:patch",
    "reconcile",
    "GET /api/v1/me",
    "GET /api/v1/facilities",
    "GET /api/v1/users",
    "GET /api/v1/directory",
    "POST /api/v1/auth/logout",
]
# Each OpenAPI operation and the matrix entries that exercise it (kept complete by a test).
COVERAGE = {
    ("get", "/api/v1/documents/{doc_id}"): "read:note",
    ("get", "/api/v1/blobs/{sha256}"): "blob:get",
    ("head", "/api/v1/blobs/{sha256}"): "blob:head",
    ("post", "/api/v1/sync/push"): "push:add-note",
    ("get", "/api/v1/sync/pull"): "pull",
    ("post", "/api/v1/sync/reconcile"): "reconcile",
    ("post", "/api/v1/blobs/uploads"): "upload:create",
    ("head", "/api/v1/blobs/uploads/{upload_id}"): "upload:head",
    ("patch", "/api/v1/blobs/uploads/{upload_id}"): "upload:patch",
    ("delete", "/api/v1/blobs/uploads/{upload_id}"): "(test_tus_termination_is_owner_only)",
    ("post", "/api/v1/blobs/status"): "(test_blob_status_is_scoped)",
    ("get", "/api/v1/me"): "GET /api/v1/me",
    ("get", "/api/v1/facilities"): "GET /api/v1/facilities",
    ("get", "/api/v1/users"): "GET /api/v1/users",
    ("get", "/api/v1/directory"): "GET /api/v1/directory",
    ("post", "/api/v1/auth/logout"): "POST /api/v1/auth/logout",
}
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("options", "/api/v1/blobs/uploads"),
}


def test_matrix_covers_every_endpoint(net):
    ops = {(m, p) for p, item in net.app.openapi()["paths"].items() for m in item}
    assert ops == set(COVERAGE) | PUBLIC, "a new endpoint needs a row in the access matrix"


@pytest.mark.parametrize("username", sorted(SEES))
def test_access_matrix(net, world, username):
    c = net.client(username)
    problems = []
    for endpoint in ENDPOINTS:
        if endpoint == "POST /api/v1/auth/logout":
            continue  # done last: it ends the session
        allowed = _expected(username, endpoint)
        got = _call(net, world, c, endpoint)
        if isinstance(got, str):
            ok = (got in ("applied", "merged")) if allowed else (got == "rejected")
        else:
            ok = got.status_code < 300 if allowed else got.status_code in (403, 404)
            if not allowed and got.request.method != "HEAD":
                ok = ok and "error" in got.json()
        if not ok:
            problems.append(
                f"{endpoint}: expected {'allow' if allowed else 'deny'}, got "
                f"{got if isinstance(got, str) else got.status_code}"
            )
    pulled = _call(net, world, c, "pull")
    want = SEES[username] - {"blob"}
    if pulled != want:
        problems.append(f"pull returned {sorted(pulled)}, expected {sorted(want)}")
    assert not problems, f"{username}: " + "; ".join(problems)
    # Logout is allowed for everyone; then every endpoint refuses the token.
    assert c.post("/api/v1/auth/logout").status_code == 204
    for endpoint in ("read:patient", "blob:get", "upload:create", "GET /api/v1/me", "reconcile"):
        assert _call(net, world, c, endpoint).status_code == 401, endpoint
    net.login(username)


def test_without_a_token_everything_but_the_public_endpoints_is_401(net, world):
    c = httpx.Client(base_url=net.url)
    for endpoint in ENDPOINTS:
        if endpoint.startswith("push:"):
            r = c.post("/api/v1/sync/push", json={"changes": []})
        else:
            r = _call(net, world, c, endpoint)
        assert r.status_code == 401, endpoint
    assert c.get("/api/v1/sync/pull").status_code == 401
    assert c.get("/healthz").status_code == 200


def test_blob_status_is_scoped(net, world):
    """'present' only for blobs the caller may read; unfinished uploads only to their owner."""
    for username, sees in SEES.items():
        r = net.client(username).post("/api/v1/blobs/status", json={"sha256": [world.blob]})
        assert r.status_code == 200, username
        (status,) = r.json()["blobs"]
        assert status["present"] == ("blob" in sees), username
        assert status["upload_url"] is None or username == "doc_a", username
    anonymous = httpx.Client(base_url=net.url)
    assert anonymous.post("/api/v1/blobs/status", json={"sha256": [world.blob]}).status_code == 401


def test_tus_termination_is_owner_only(net, world):
    for username in sorted(SEES):
        if username != "doc_a":
            r = net.client(username).delete(f"/api/v1/blobs/uploads/{world.upload}", headers=TUS)
            assert r.status_code == 404, username
    assert (
        net.client("doc_a").delete(f"/api/v1/blobs/uploads/{world.upload}", headers=TUS).status_code
        == 204
    )
