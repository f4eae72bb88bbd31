"""The engine against the real hub: records and blobs reach the hub and other devices."""

from __future__ import annotations

from pathlib import Path

from app.protocol.sync import DocType
from tests.sync.hub_harness import make_client, sync_until_quiet


def test_records_and_attachment_reach_another_device(hub, tmp_path: Path) -> None:
    a = make_client(tmp_path / "a", hub.url, "doc1")
    b = make_client(tmp_path / "b", hub.url, "doc2")
    try:
        p = a.store.create(
            DocType.patient, {"name": "王秀英", "sex": "F", "birth_date": "1958-03-02"}
        )
        c = a.store.create(
            DocType.consultation, {"status": "draft", "reason": "咳嗽两周"}, patient_id=p.id
        )
        a.store.create(
            DocType.vitals, {"spo2": 93, "heart_rate": 88}, patient_id=p.id, consultation_id=c.id
        )
        photo = b"\x89PNG fake photo bytes" * 5000
        sha = a.blobs.add_bytes(photo, "image/png")
        a.store.create(
            DocType.attachment,
            {
                "kind": "photo",
                "title": "皮疹",
                "blobs": [
                    {"sha256": sha, "size": len(photo), "media_type": "image/png", "kind": "photo"}
                ],
            },
            patient_id=p.id,
            consultation_id=c.id,
        )
        sync_until_quiet(a)
        assert a.store.get(p.id).sync_state == "synced"
        assert a.engine.status().docs_remaining == 0 and a.engine.status().bytes_remaining == 0
        sync_until_quiet(b)
        got = b.store.get(p.id)
        assert got is not None and got.fields["name"] == "王秀英"
        assert len(b.store.list(DocType.attachment, patient_id=p.id)) == 1
        b.engine.request_blob(sha)
        b.engine.download_blobs()
        assert b.blobs.read_bytes(sha) == photo
        assert b.engine.reconcile() is True
    finally:
        a.close()
        b.close()
