"""Local records and outbox: one transaction, folding, freezing sent changes, rebasing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.protocol.sync import DocType, Document, PushResult, PushStatus
from app.sync.cache import open_cache
from app.sync.records import RecordInvalid, patient_identity
from app.sync.store import RecordStore


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    return RecordStore(open_cache(tmp_path / "cache.db", b"k" * 32), "u1", "f1")


def _hub_doc(change, rev: int, fields=None, seq: int = 1) -> Document:
    return Document(
        id=change.id,
        type=change.type,
        rev=rev,
        seq=seq,
        fields=fields or change.fields,
        facility_id="f1",
        patient_id=change.patient_id,
        updated_at=datetime.now(UTC),
        updated_by="u1",
    )


def test_write_goes_to_cache_and_outbox_together(store: RecordStore) -> None:
    p = store.create(DocType.patient, {"name": "李明", "sex": "M", "birth_date": "1960-05-01"})
    assert store.outbox_size() == 1
    assert p.sync_state == "pending"
    ident = patient_identity(p.fields)
    assert ident["name"] == "李明" and ident["sex"] == "M" and int(ident["age"]) >= 65
    with pytest.raises(RecordInvalid, match="spo2"):
        store.create(DocType.vitals, {"spo2": 140}, patient_id=p.id)
    assert store.outbox_size() == 1  # nothing half-written


def test_unsent_edits_fold_sent_edits_freeze(store: RecordStore) -> None:
    p = store.create(DocType.patient, {"name": "A"})
    store.update(p.id, {"phone": "123"})
    assert store.outbox_size() == 1
    (first,) = store.take_batch(10, lambda s: True)
    store.update(p.id, {"phone": "456"})  # the first may already be on the hub: new change
    assert store.outbox_size() == 2
    assert store.take_batch(10, lambda s: True) == [first]  # one change per document at a time
    store.apply_push_results(
        [first],
        [
            PushResult(
                change_id=first.change_id, id=first.id, status=PushStatus.applied, rev=1, seq=1
            )
        ],
    )
    (second,) = store.take_batch(10, lambda s: True)
    assert second.base_rev == 1 and second.fields["phone"] == "456"


def test_merged_result_keeps_later_local_edit(store: RecordStore) -> None:
    p = store.create(DocType.patient, {"name": "A"})
    (first,) = store.take_batch(10, lambda s: True)
    store.update(p.id, {"phone": "local"})
    merged = _hub_doc(first, rev=2, fields={"name": "A", "address": "from another clinic"})
    store.apply_push_results(
        [first],
        [
            PushResult(
                change_id=first.change_id,
                id=first.id,
                status=PushStatus.merged,
                rev=2,
                seq=2,
                document=merged,
            )
        ],
    )
    doc = store.get(p.id)
    assert doc.fields == {"name": "A", "address": "from another clinic", "phone": "local"}
    (second,) = store.take_batch(10, lambda s: True)
    assert second.base_rev == 2 and second.fields["phone"] == "local"


def test_pull_never_overwrites_pending_edit(store: RecordStore) -> None:
    p = store.create(DocType.patient, {"name": "mine"})
    change = store.pending_changes()[0]
    store.apply_pull([_hub_doc(change, 5, {"name": "theirs"}, seq=9)], 9)
    assert store.get(p.id).fields["name"] == "mine"
    assert store.get(p.id).hub_fields == {"name": "theirs"}
    assert store.cursor() == 9


def test_rejected_change_is_kept_and_shown(store: RecordStore) -> None:
    p = store.create(DocType.patient, {"name": "A"})
    (c,) = store.take_batch(10, lambda s: True)
    store.apply_push_results(
        [c],
        [
            PushResult(
                change_id=c.change_id,
                id=c.id,
                status=PushStatus.rejected,
                reason="forbidden",
                message="not your facility",
            )
        ],
    )
    doc = store.get(p.id)
    assert doc.sync_state == "error" and "not your facility" in doc.sync_error
    assert doc.fields["name"] == "A"
    assert store.rejected()[0][1] == "forbidden"


def test_consultation_lifecycle_enforced(store: RecordStore) -> None:
    p = store.create(DocType.patient, {"name": "A"})
    c = store.create(DocType.consultation, {"status": "draft", "reason": "胸痛"}, patient_id=p.id)
    with pytest.raises(RecordInvalid, match="cannot go from 'draft' to 'closed'"):
        store.update(c.id, {"status": "closed"})
    with pytest.raises(RecordInvalid) as refused:
        store.update(c.id, {"status": "submitted"})
    assert [(p.field, p.code) for p in refused.value.problems] == [("consent", "consent_required")]
    assert store.get(c.id).fields["status"] == "draft", "nothing changed"
    consent = {
        "given_by": "guardian",
        "signer_name": "李红",
        "signed_at": "2026-11-20T09:00:00+08:00",
        "scan": {"sha256": "c" * 64, "name": "consent.jpg", "media_type": "image/jpeg"},
    }
    done = store.update(c.id, {"status": "submitted", "consent": consent})
    assert done.fields["status"] == "submitted"
    # the submit waits for the consent scan's upload, as attachments wait for theirs
    first = store.take_batch(10, lambda s: False)
    assert [ch.type for ch in first] == [DocType.patient, DocType.consultation]
    assert first[1].fields["status"] == "draft", "the draft goes first, the submit on its own"


def test_attachment_waits_for_its_blobs(store: RecordStore) -> None:
    p = store.create(DocType.patient, {"name": "A"})
    blob = {"sha256": "a" * 64, "size": 3, "kind": "photo"}
    store.create(
        DocType.attachment, {"kind": "photo", "blobs": [blob]}, patient_id=p.id, doc_id=uuid.uuid4()
    )
    batch = store.take_batch(10, lambda s: False)
    assert [c.type for c in batch] == [DocType.patient]
    batch = store.take_batch(10, lambda s: True)
    assert {c.type for c in batch} == {DocType.patient, DocType.attachment}


def test_a_failing_change_listener_is_logged_and_the_write_stands(
    store: RecordStore, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[list[str]] = []

    def broken(ids: list[str]) -> None:
        raise RuntimeError("page gone")

    store.on_change(broken)
    store.on_change(heard.append)
    with caplog.at_level("ERROR", logger="app.sync.store"):
        p = store.create(DocType.patient, {"name": "监听"})
    assert store.get(p.id) is not None and heard == [[str(p.id)]]
    assert "page gone" in caplog.text


def test_a_failing_local_write_listener_is_logged_and_the_write_stands(
    store: RecordStore, caplog: pytest.LogCaptureFixture
) -> None:
    woken: list[bool] = []

    def broken() -> None:
        raise RuntimeError("engine gone")

    store.on_local_write(broken)
    store.on_local_write(lambda: woken.append(True))
    with caplog.at_level("ERROR", logger="app.sync.store"):
        p = store.create(DocType.patient, {"name": "写入"})
    assert store.get(p.id) is not None and store.outbox_size() == 1 and woken == [True]
    assert "engine gone" in caplog.text


def test_a_workflow_step_that_keeps_the_status_is_not_folded_into_the_unsent_one(
    store: RecordStore,
) -> None:
    """Accept, then propose a time before the accept went out (offline, or a slow link): two
    changes, so the hub checks each step — folded, it saw an "accept" that also set the
    proposed time, refused it, and the clinic never heard of either."""
    from app.protocol.consultation import Side, apply_action

    submitted = {
        "status": "submitted",
        "consultation_type": "video",
        "target_facility_id": "county",
        "department": "放射科",
        "purpose": "明确诊断",
        "consent": {
            "given_by": "patient",
            "signer_name": "赵春梅",
            "signed_at": "2026-11-29T10:00:00",
            "scan": {"sha256": "a" * 64, "name": "consent.jpg", "kind": "consent"},
        },
        "history": [{"action": "submit", "by": "u0", "side": "requester", "at": "2026-11-30"}],
    }
    p = store.create(DocType.patient, {"name": "王秀英"})
    c = store.create(DocType.consultation, submitted, patient_id=p.id)
    sent = store.take_batch(10, lambda s: True)
    store.apply_push_results(
        sent,
        [
            PushResult(change_id=ch.change_id, id=ch.id, status=PushStatus.applied, rev=1, seq=1)
            for ch in sent
        ],
    )
    assert store.outbox_size() == 0
    accepted = apply_action(store.get(c.id).fields, "accept", Side.target, "u1", "赵影像")
    store.update(c.id, accepted)
    proposed = apply_action(
        accepted, "propose_time", Side.target, "u1", "赵影像", time="2026-12-01T09:30"
    )
    store.update(c.id, proposed)

    queued = [ch for ch in store.pending_changes() if str(ch.id) == c.id]
    assert [ch.fields["status"] for ch in queued] == ["accepted", "accepted"]
    assert not queued[0].fields.get("proposed_time")
    assert queued[1].fields["proposed_time"] == "2026-12-01T09:30"

    # An edit that is not a new step still folds into the unsent one.
    store.update(c.id, {**proposed, "purpose": "明确肺结节性质"})
    assert len([ch for ch in store.pending_changes() if str(ch.id) == c.id]) == 2
