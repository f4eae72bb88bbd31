"""Finding 2 and the Low list's blob and tus items: a blob's SHA-256 is no key, "not yours"
reads exactly like "not there", blobs are served inertly, and tus replies follow tus 1.0."""

from __future__ import annotations

import base64
import hashlib
import os

from hub import audit
from tests.hub.conftest import change, make_patient, new_id, push

TUS = {"Tus-Resumable": "1.0.0"}


def _upload(c, data: bytes, filetype: str = "application/dicom") -> str:
    meta = "filetype " + base64.b64encode(filetype.encode()).decode()
    r = c.post(
        "/api/v1/blobs/uploads",
        headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta},
    )
    assert r.status_code == 201, r.text
    r = c.patch(
        r.headers["Location"],
        content=data,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert r.status_code == 204, r.text
    return r.headers["X-Blob-Sha256"]


def _attach(c, pid: str, sha: str) -> dict:
    (res,) = push(c, change(new_id(), "attachment", {"blobs": [{"sha256": sha}]}, patient_id=pid))
    return res


def test_a_hash_alone_does_not_let_another_clinic_reference_or_read_a_blob(net):
    a, b = net.client("doc_a"), net.client("doc_b")
    ct = os.urandom(5000)
    sha = _upload(a, ct)
    assert b.get(f"/api/v1/blobs/{sha}").status_code == 404
    # Clinic B names the hash on its own patient's attachment: refused, and exactly as an
    # unknown hash is refused (no oracle for which hashes the hub holds).
    own_patient = make_patient(b, "李四")
    stolen = _attach(b, own_patient, sha)
    unknown = _attach(b, own_patient, hashlib.sha256(os.urandom(16)).hexdigest())
    assert stolen["status"] == unknown["status"] == "rejected"
    assert stolen["reason"] == unknown["reason"] == "missing_blob"
    assert stolen["message"].replace(sha, "H") == unknown["message"].replace(
        unknown["message"].split()[1], "H"
    )
    assert b.get(f"/api/v1/blobs/{sha}").status_code == 404
    r = b.post("/api/v1/blobs/status", json={"sha256": [sha]})
    assert r.json()["blobs"][0]["present"] is False
    # Clinic A references its own upload as before.
    assert _attach(a, make_patient(a), sha)["status"] == "applied"


def test_uploading_the_same_bytes_makes_them_yours_too(net):
    a, b = net.client("doc_a"), net.client("doc_b")
    data = os.urandom(3000)
    sha = _upload(a, data)
    assert _upload(b, data) == sha  # content addressing: stored once
    assert b.get(f"/api/v1/blobs/{sha}").content == data
    assert _attach(b, make_patient(b), sha)["status"] == "applied"


def test_blobs_are_served_as_inert_downloads(net):
    c = net.client("doc_a")
    page = b"<html><script>alert(1)</script></html>" + os.urandom(8)
    sha = _upload(c, page, filetype="text/html")
    r = c.get(f"/api/v1/blobs/{sha}")
    assert r.content == page
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"].startswith("attachment")


def test_push_answers_not_yours_like_not_there(net):
    a, b = net.client("doc_a"), net.client("doc_b")
    pid = make_patient(a)
    missing = new_id()
    for target in (pid, missing):
        (res,) = push(b, change(target, "patient", {"name": "x"}, base_rev=1))
        assert res["status"] == "rejected" and res["reason"] == "not_found", res
    mine, theirs = (
        push(b, change(target, "note", {"t": 1}, base_rev=1))[0] for target in (missing, pid)
    )
    assert (mine["reason"], mine["message"]) == (theirs["reason"], theirs["message"])
    # Naming another clinic's patient, or no patient at all, reads the same too.
    answers = [push(b, change(new_id(), "note", {"t": 1}, patient_id=p))[0] for p in (pid, missing)]
    assert answers[0]["reason"] == answers[1]["reason"]
    assert answers[0]["message"] == answers[1]["message"]
    # The refused writes are in the audit trail (a probe is worth recording).
    with net.state.db.read() as conn:
        rows = audit.query(conn, username="doc_b", limit=50)
    assert {r.doc_id for r in rows if r.action == "write_rejected"} >= {pid, missing}


def test_tus_replies_follow_tus_1_0(net):
    c = net.client("doc_a")
    # Errors carry Tus-Resumable; missing or malformed lengths and offsets are 400.
    r = c.post("/api/v1/blobs/uploads", headers=TUS)
    assert r.status_code == 400 and r.headers["Tus-Resumable"] == "1.0.0"
    r = c.post("/api/v1/blobs/uploads", headers={**TUS, "Upload-Length": "ten"})
    assert r.status_code == 400 and r.headers["Tus-Resumable"] == "1.0.0"
    loc = c.post("/api/v1/blobs/uploads", headers={**TUS, "Upload-Length": "4"}).headers["Location"]
    r = c.patch(
        loc, content=b"abcd", headers={**TUS, "Content-Type": "application/offset+octet-stream"}
    )
    assert r.status_code == 400 and r.headers["Tus-Resumable"] == "1.0.0"
    r = c.head(loc)  # no Tus-Resumable from the client: not a tus request
    assert r.status_code == 400 and r.headers["Tus-Resumable"] == "1.0.0"
    r = c.head(loc, headers={"Tus-Resumable": "0.2.2"})  # another tus version: 412
    assert r.status_code == 412 and r.headers["Tus-Version"] == "1.0.0"
    # A malformed id is simply not there.
    r = c.head("/api/v1/blobs/uploads/not-an-id", headers=TUS)
    assert r.status_code == 404 and r.headers["Tus-Resumable"] == "1.0.0"
    # /blobs/status is its own route, never a malformed blob hash.
    assert c.get("/api/v1/blobs/status").status_code == 405
