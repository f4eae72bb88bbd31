"""Blob uploads speak tus 1.0 (a standard client, tuspy, uploads with checksums) and
downloads honour HTTP Range; sizes and quotas are enforced."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pydicom.data import get_testdata_file
from tusclient import client as tus_client
from tusclient.uploader import Uploader

from hub import db as t
from tests.hub.conftest import change, consent, make_patient, new_id, push
from tests.support.wait import wait_until

TUS = {"Tus-Resumable": "1.0.0"}


class Sha256Uploader(Uploader):
    """tuspy's uploader with the checksum extension set to sha256 (its default is sha1)."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def _meta(**kw: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kw.items())


def _create(c: httpx.Client, length: int, **meta: str) -> str:
    r = c.post(
        "/api/v1/blobs/uploads",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": _meta(**meta)},
    )
    assert r.status_code == 201, r.text
    return r.headers["Location"]


def _patch(
    c: httpx.Client, loc: str, offset: int, data: bytes, checksum: str | None = None
) -> httpx.Response:
    headers = {
        **TUS,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
    }
    if checksum:
        headers["Upload-Checksum"] = checksum
    return c.patch(loc, content=data, headers=headers)


@pytest.mark.parametrize("uploader_class", [Uploader, Sha256Uploader], ids=["sha1", "sha256"])
def test_tuspy_uploads_dicom_with_checksums(net, uploader_class):
    path = get_testdata_file("waveform_ecg.dcm")
    data = Path(path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    tus = tus_client.TusClient(
        net.url + "/api/v1/blobs/uploads",
        headers={"Authorization": f"Bearer {net.tokens['doc_a']}"},
    )
    up = uploader_class(
        file_path=path,
        client=tus,
        chunk_size=64 * 1024,
        upload_checksum=True,
        metadata={"filename": "waveform_ecg.dcm", "filetype": "application/dicom"},
    )
    up.upload()
    assert up.offset == len(data)
    c = net.client("doc_a")
    got = c.get(f"/api/v1/blobs/{sha}")
    assert got.status_code == 200 and got.content == data
    # Served inertly whatever the uploader declared (the attachment document says what it is).
    assert got.headers["content-type"] == "application/octet-stream"


def test_tus_protocol_details(net):
    c = net.client("doc_b")
    opts = c.options("/api/v1/blobs/uploads")
    assert opts.status_code == 204 and opts.headers["Tus-Version"] == "1.0.0"
    assert set(opts.headers["Tus-Extension"].split(",")) >= {
        "creation",
        "checksum",
        "expiration",
        "termination",
    }
    assert set(opts.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256"}

    data = os.urandom(300_000)
    sha = hashlib.sha256(data).hexdigest()
    loc = _create(c, len(data), filename="photo.jpg", filetype="image/jpeg", sha256=sha)
    assert c.head(loc, headers=TUS).headers["Upload-Offset"] == "0"
    assert c.head(loc, headers=TUS).headers["Upload-Expires"]
    # Wrong offset → 409 and the hub's offset.
    r = _patch(c, loc, 5, data[:10])
    assert r.status_code == 409 and r.headers["Upload-Offset"] == "0"
    # Wrong chunk checksum → 460 and nothing of the chunk kept.
    r = _patch(c, loc, 0, data[:100_000], "sha256 " + base64.b64encode(b"x" * 32).decode())
    assert r.status_code == 460 and r.json()["error"] == "checksum_mismatch"
    assert c.head(loc, headers=TUS).headers["Upload-Offset"] == "0"
    # Good chunks with sha1 and sha256 checksums; the blob is not visible until complete.
    r = _patch(
        c,
        loc,
        0,
        data[:100_000],
        "sha1 " + base64.b64encode(hashlib.sha1(data[:100_000]).digest()).decode(),
    )
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "100000"
    assert c.get(f"/api/v1/blobs/{sha}").status_code == 404
    rest = data[100_000:]
    r = _patch(
        c, loc, 100_000, rest, "sha256 " + base64.b64encode(hashlib.sha256(rest).digest()).decode()
    )
    assert r.status_code == 204 and r.headers["X-Blob-Sha256"] == sha
    assert c.get(f"/api/v1/blobs/{sha}").content == data
    # Missing Tus-Resumable → 400, another version → 412; unknown algorithm → 400.
    assert c.head(loc).status_code == 400
    assert c.head(loc, headers={"Tus-Resumable": "0.2.2"}).status_code == 412
    loc2 = _create(c, 10)
    assert _patch(c, loc2, 0, b"0123456789", "md5 AAAA").status_code == 400
    # Termination.
    assert c.delete(loc2, headers=TUS).status_code == 204
    assert c.head(loc2, headers=TUS).status_code == 404


def test_resume_after_interrupted_upload(net):
    c = net.client("doc_a")
    data = os.urandom(200_000)
    loc = _create(c, len(data))
    assert _patch(c, loc, 0, data[:70_000]).status_code == 204
    # The client "reconnects": asks the offset and sends the rest from there.
    offset = int(c.head(loc, headers=TUS).headers["Upload-Offset"])
    assert offset == 70_000
    r = _patch(c, loc, offset, data[offset:])
    assert r.status_code == 204
    assert c.get(f"/api/v1/blobs/{r.headers['X-Blob-Sha256']}").content == data


def test_final_hash_is_verified_before_the_blob_is_visible(net):
    c = net.client("doc_a")
    data = b"ECG" * 1000
    loc = _create(c, len(data), sha256="0" * 64)
    r = _patch(c, loc, 0, data)
    assert r.status_code == 460 and "hash" in r.json()["message"]
    assert c.get(f"/api/v1/blobs/{hashlib.sha256(data).hexdigest()}").status_code == 404
    assert c.head(loc, headers=TUS).headers["Upload-Offset"] == "0", "the client can upload again"


def test_range_downloads(net):
    c = net.client("doc_a")
    data = bytes(range(256)) * 40
    loc = _create(c, len(data))
    sha = _patch(c, loc, 0, data).headers["X-Blob-Sha256"]
    r = c.get(f"/api/v1/blobs/{sha}", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert c.get(f"/api/v1/blobs/{sha}", headers={"Range": "bytes=-10"}).content == data[-10:]
    assert c.get(f"/api/v1/blobs/{sha}", headers={"Range": "bytes=10000-"}).content == data[10000:]
    r = c.get(f"/api/v1/blobs/{sha}", headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416 and r.json()["error"] == "range_not_satisfiable"


def test_size_limit_and_facility_quota(sqlite_hub):
    c = sqlite_hub.client("doc_a")
    r = c.post("/api/v1/blobs/uploads", headers={**TUS, "Upload-Length": "100001"})
    assert (
        r.status_code == 413
        and r.json()["error"] == "blob_too_large"
        and "100000" in r.json()["message"]
    )
    for _ in range(2):
        data = os.urandom(90_000)
        loc = _create(c, len(data))
        assert _patch(c, loc, 0, data).status_code == 204
    r = c.post("/api/v1/blobs/uploads", headers={**TUS, "Upload-Length": "30000"})
    assert (
        r.status_code == 413
        and r.json()["error"] == "quota_exceeded"
        and "quota" in r.json()["message"]
    )
    # Another facility has its own quota.
    other = sqlite_hub.client("doc_b")
    assert (
        other.post("/api/v1/blobs/uploads", headers={**TUS, "Upload-Length": "30000"}).status_code
        == 201
    )
    # A chunk longer than declared is refused and not kept.
    loc = _create(other, 10)
    r = _patch(other, loc, 0, b"x" * 20)
    assert r.status_code == 413
    assert other.head(loc, headers=TUS).headers["Upload-Offset"] == "0"


def test_expired_upload_is_gone(sqlite_hub):
    c = sqlite_hub.client("doc_a")
    loc = _create(c, 10)
    with sqlite_hub.state.db.write() as conn:
        conn.execute(t.uploads.update().values(expires_at=time.time() - 1))
    r = c.head(loc, headers=TUS)
    assert r.status_code == 410
    _create(c, 5)  # creating purges expired uploads and their files
    upload_id = loc.rsplit("/", 1)[1]
    assert not (sqlite_hub.state.config.upload_dir / upload_id).exists()
    with sqlite_hub.state.db.read() as conn:
        assert conn.execute(sa.select(t.uploads).where(t.uploads.c.id == upload_id)).first() is None


def test_attachment_makes_blob_visible_to_consultation_participants(net):
    doc, rad, card = net.client("doc_a"), net.client("radiologist"), net.client("cardiologist")
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes() + new_id().encode()  # unique bytes
    loc = _create(doc, len(data), filetype="application/dicom")
    sha = _patch(doc, loc, 0, data).headers["X-Blob-Sha256"]
    assert rad.get(f"/api/v1/blobs/{sha}").status_code == 404
    pid = make_patient(doc)
    cid = new_id()
    push(
        doc,
        change(
            cid,
            "consultation",
            {
                "status": "submitted",
                "target_facility_id": "county",
                "department": "放射科",
                "purpose": "明确诊断",
                "consent": consent(doc),
            },
            patient_id=pid,
        ),
    )
    (res,) = push(
        doc,
        change(
            new_id(),
            "attachment",
            {"blobs": [{"sha256": sha, "name": "CT_small.dcm"}]},
            patient_id=pid,
            consultation_id=cid,
        ),
    )
    assert res["status"] == "applied"
    assert rad.get(f"/api/v1/blobs/{sha}").content == data
    assert rad.head(f"/api/v1/blobs/{sha}").status_code == 200
    assert card.get(f"/api/v1/blobs/{sha}").status_code == 404, "other department: no access"


def test_connection_dropped_mid_chunk_keeps_the_received_bytes(net):
    """A rural link drops during a PATCH: the hub keeps what arrived, HEAD says where to resume."""
    import socket
    from urllib.parse import urlparse

    c = net.client("doc_a")
    data = os.urandom(1_000_000)
    loc = _create(c, len(data))
    u = urlparse(net.url)
    head = (
        f"PATCH {loc} HTTP/1.1\r\nHost: {u.hostname}\r\nAuthorization: Bearer {net.tokens['doc_a']}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    with socket.create_connection((u.hostname, u.port)) as s:
        s.sendall(head + data[:400_000])  # then the link drops: closed mid-body
    offset = wait_until(
        lambda: int(c.head(loc, headers=TUS).headers["Upload-Offset"]),
        60,
        "the hub to keep the bytes that arrived",
        poll=0.1,
    )
    assert 0 < offset <= 400_000
    r = _patch(c, loc, offset, data[offset:])
    assert r.status_code == 204
    assert c.get(f"/api/v1/blobs/{r.headers['X-Blob-Sha256']}").content == data
