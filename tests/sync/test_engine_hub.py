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


def _vanished_from_hub(client, patient_id) -> str:  # noqa: ANN001
    """A document the cache believes the hub holds but the hub no longer returns to this user
    (as after a consultation left their scope): pulled in through the real store."""
    import uuid
    from datetime import UTC, datetime

    from app.protocol.sync import Document

    doc_id = uuid.uuid4()
    gone = Document(
        id=doc_id,
        type=DocType.note,
        rev=3,
        seq=10**9,
        fields={"text": "out of scope now"},
        facility_id="elsewhere",
        patient_id=patient_id,
        updated_at=datetime.now(UTC),
        updated_by="someone",
    )
    client.store.apply_pull([gone], client.store.cursor())
    return str(doc_id)


def test_reconcile_mismatch_pulls_everything_and_drops_only_what_the_hub_no_longer_has(
    hub, tmp_path: Path
) -> None:
    a = make_client(tmp_path / "a", hub.url, "doc1")
    try:
        kept = [a.store.create(DocType.patient, {"name": f"对账{i}"}).id for i in range(3)]
        sync_until_quiet(a)
        assert a.engine.reconcile() is True, "a cache that matches the hub"
        stale = _vanished_from_hub(a, kept[0])
        edited = _vanished_from_hub(a, kept[0])
        a.store.update(edited, {"text": "written here, not yet sent"})

        assert a.engine.reconcile() is False, "no digest check while changes wait to be sent"
        assert a.store.get(stale) is not None and a.store.get(edited) is not None

        a.store.delete(edited)  # the pending change goes (a local delete of it)
        a.store.update(kept[1], {"phone": "13800000000"})
        sync_until_quiet(a)
        assert a.store.outbox_size() == 0
        # now the digest differs (the stale row): a full pull, then the stale row goes
        assert a.engine.reconcile() is False
        assert a.store.get(stale) is None, "a row the hub no longer returns is dropped"
        assert all(a.store.get(k) is not None for k in kept), "nothing the hub holds is lost"
        assert a.store.get(kept[1]).fields["phone"] == "13800000000"
        assert a.engine.reconcile() is True, "after the full pull the digests agree"
    finally:
        a.close()


def test_full_pull_never_drops_a_document_with_an_unsent_change(hub, tmp_path: Path) -> None:
    """The drop step of the reconcile path keeps anything still in the outbox, even a document
    the hub does not return (the change may be what brings it back into scope)."""
    a = make_client(tmp_path / "a", hub.url, "doc1")
    try:
        p = a.store.create(DocType.patient, {"name": "待发送"}).id
        sync_until_quiet(a)
        pending = _vanished_from_hub(a, p)
        a.store.update(pending, {"text": "edited offline"})
        seen: set[str] = set()
        a.engine.pull(since=0, seen=seen)
        assert pending not in seen and str(p) in seen
        assert a.store.drop_unseen(seen) == 0
        doc = a.store.get(pending)
        assert doc is not None and doc.fields["text"] == "edited offline"
        assert a.store.outbox_size() == 1
    finally:
        a.close()


def test_an_urgent_blob_is_fetched_next_even_in_the_middle_of_other_downloads(
    hub, tmp_path: Path, monkeypatch
) -> None:
    """Co-viewing asks for the series being shown in a call: it goes ahead of the queue, and
    a request made while other blobs download is served next, not after them."""
    import app.sync.engine as engine_module

    a = make_client(tmp_path / "a", hub.url, "doc1")
    b = make_client(tmp_path / "b", hub.url, "doc2")
    try:
        shas = [a.blobs.add_bytes(bytes([i]) * 20_000, "application/dicom") for i in range(5)]
        p = a.store.create(
            DocType.patient, {"name": "赵一", "sex": "M", "birth_date": "1960-01-01"}
        )
        entries = [
            {"sha256": s, "size": 20_000, "media_type": "application/dicom", "kind": "dicom"}
            for s in shas
        ]
        a.store.create(DocType.attachment, {"kind": "dicom", "blobs": entries}, patient_id=p.id)
        sync_until_quiet(a)
        sync_until_quiet(b)
        for sha in shas[:3]:
            b.engine.request_blob(sha)
        b.engine.request_blob(shas[3], urgent=True)
        b.engine.request_blob(shas[1])  # already queued: stays behind the urgent one
        assert b.engine.wanted() == [shas[3], shas[2], shas[1], shas[0]]
        order: list[str] = []
        real = engine_module.download_blob

        def observed(client, blobs, sha, *args):  # noqa: ANN001, ANN002, ANN202
            order.append(sha)
            if len(order) == 2:  # while the queue is being worked through
                b.engine.request_blob(shas[4], urgent=True)
            return real(client, blobs, sha, *args)

        monkeypatch.setattr(engine_module, "download_blob", observed)
        b.engine.download_blobs()
        assert order == [shas[3], shas[2], shas[4], shas[1], shas[0]]
        assert all(b.blobs.read_bytes(s) == bytes([i]) * 20_000 for i, s in enumerate(shas))
        assert b.engine.wanted() == []
    finally:
        a.close()
        b.close()
