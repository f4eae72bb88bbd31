"""Records sync over HTTP: idempotent push, cursor pull with tombstones, merge, conflicts,
reconciliation — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid

from app.protocol.sync import Document, PullResponse, PushResponse, scope_digest
from tests.hub.conftest import change, make_consultation, make_patient, new_id, pull_all, push


def _cursor(client) -> int:
    """The hub's current cursor (what a client that is up to date would hold)."""
    return client.post("/api/v1/sync/reconcile", json={"digest": "0" * 64, "count": 0}).json()[
        "cursor"
    ]


def test_push_then_pull_round_trip(net):
    c = net.client("doc_a")
    start = _cursor(c)
    pid = make_patient(c, "李建国")
    docs, cursor = pull_all(c, start)
    (doc,) = [Document.model_validate(d) for d in docs if d["id"] == pid]
    assert doc.fields["name"] == "李建国" and doc.rev == 1 and doc.facility_id == "clinic-a"
    assert cursor >= doc.seq
    assert pull_all(c, cursor)[0] == [], "nothing new after the cursor"


def test_resending_a_change_is_harmless(net):
    c = net.client("doc_a")
    pid = new_id()
    ch = change(pid, "patient", {"name": "张桂兰"})
    first = push(c, ch)
    second = push(c, ch)
    assert first == second and first[0]["status"] == "applied"
    r = c.get(f"/api/v1/documents/{pid}")
    assert r.json()["rev"] == 1, "the resent change did not create a second revision"
    edit = change(pid, "patient", {"name": "张桂兰", "phone": "138"}, base_rev=1)
    assert push(c, edit)[0]["rev"] == 2
    assert push(c, edit)[0]["rev"] == 2
    assert c.get(f"/api/v1/documents/{pid}").json()["rev"] == 2


def test_disjoint_edits_merge(net):
    c = net.client("doc_a")
    pid = new_id()
    push(c, change(pid, "patient", {"name": "王秀英", "phone": "1", "village": "石门村"}))
    (a,) = push(
        c, change(pid, "patient", {"name": "王秀英", "phone": "2", "village": "石门村"}, base_rev=1)
    )
    (b,) = push(
        c, change(pid, "patient", {"name": "王秀英", "phone": "1", "village": "柳树湾"}, base_rev=1)
    )
    assert a["status"] == "applied" and b["status"] == "merged"
    merged = PushResponse.model_validate({"results": [b]}).results[0].document
    assert (
        merged.fields == {"name": "王秀英", "phone": "2", "village": "柳树湾"}
        and merged.conflict is None
    )


def test_overlapping_edits_keep_both_versions_until_resolved(net):
    c = net.client("doc_a")
    pid = new_id()
    push(c, change(pid, "patient", {"name": "刘强", "allergies": "无"}))
    push(c, change(pid, "patient", {"name": "刘强", "allergies": "青霉素"}, base_rev=1))
    (res,) = push(
        c, change(pid, "patient", {"name": "刘强", "allergies": "磺胺", "phone": "151"}, base_rev=1)
    )
    assert res["status"] == "conflict" and "allergies" in res["message"]
    doc = Document.model_validate(c.get(f"/api/v1/documents/{pid}").json())
    assert doc.conflict is not None and doc.conflict.fields == ["allergies"]
    values = [v.fields["allergies"] for v in doc.conflict.versions]
    assert values == ["青霉素", "磺胺"], "both versions are kept in full"
    assert doc.fields["allergies"] == "青霉素" and doc.fields["phone"] == "151", (
        "non-overlapping edit merged"
    )
    # A person chooses: a normal push naming the conflict resolved.
    (fix,) = push(
        c,
        change(
            pid,
            "patient",
            {"name": "刘强", "allergies": "青霉素, 磺胺", "phone": "151"},
            base_rev=doc.rev,
            resolves_conflict=True,
        ),
    )
    assert fix["status"] == "applied" and fix["document"]["conflict"] is None
    assert fix["document"]["fields"]["allergies"] == "青霉素, 磺胺"


def test_delete_is_pulled_as_tombstone_and_edit_vs_delete_conflicts(net):
    c = net.client("doc_a")
    pid = make_patient(c)
    nid = new_id()
    push(c, change(nid, "note", {"text": "复诊"}, patient_id=pid))
    start = _cursor(c)
    (d,) = push(c, change(nid, "note", {}, base_rev=1, deleted=True, patient_id=pid))
    assert d["status"] == "applied"
    docs, _ = pull_all(c, start)
    (tomb,) = [x for x in docs if x["id"] == nid]
    assert tomb["deleted"] is True and tomb["fields"] == {}
    # Someone else edited while another deleted: not silently lost.
    n2 = new_id()
    push(c, change(n2, "note", {"text": "a"}, patient_id=pid))
    push(c, change(n2, "note", {"text": "b"}, base_rev=1, patient_id=pid))
    (x,) = push(c, change(n2, "note", {}, base_rev=1, deleted=True, patient_id=pid))
    assert x["status"] == "conflict" and x["document"]["deleted"] is False


def test_pull_pages_by_cursor_without_gaps_or_repeats(net):
    c = net.client("doc_b")
    start = _cursor(c)
    pid = make_patient(c)
    ids = {pid}
    for i in range(0, 30, 10):
        batch = [
            change(new_id(), "vitals", {"pulse": 60 + j}, patient_id=pid) for j in range(i, i + 10)
        ]
        ids |= {b["id"] for b in batch}
        assert {r["status"] for r in push(c, *batch)} == {"applied"}
    docs, _ = pull_all(c, start, limit=7)
    got = [d["id"] for d in docs]
    assert len(got) == len(set(got)) and set(got) == ids
    seqs = [d["seq"] for d in docs]
    assert seqs == sorted(seqs)
    page = PullResponse.model_validate(
        c.get("/api/v1/sync/pull", params={"since": start, "limit": 7}).json()
    )
    # Pages end between pushes: the patient alone, then each batch of ten whole (a page may
    # exceed the limit rather than split what one transaction stored).
    assert page.has_more and [d.id for d in page.changes] == [uuid.UUID(pid)]
    assert page.next_cursor > start


def test_reconcile_digest_matches_only_the_same_set(net):
    c = net.client("doc_a")
    make_patient(c, "对账")
    docs, _ = pull_all(c, 0)
    held = [(d["id"], d["rev"]) for d in docs if not d["deleted"]]
    assert held, "the reconciling user must hold documents, or the mismatch is never tried"
    ok = c.post(
        "/api/v1/sync/reconcile", json={"digest": scope_digest(reversed(held)), "count": len(held)}
    ).json()
    assert ok["match"] is True and ok["hub_count"] == len(held)
    stale = [(held[0][0], held[0][1] + 1), *held[1:]]
    bad = c.post(
        "/api/v1/sync/reconcile", json={"digest": scope_digest(stale), "count": len(stale)}
    ).json()
    assert bad["match"] is False
    missing = c.post(
        "/api/v1/sync/reconcile", json={"digest": scope_digest(held[1:]), "count": len(held) - 1}
    ).json()
    assert missing["match"] is False


def test_consultation_status_rules_and_rejections(net):
    c = net.client("doc_a")
    pid = make_patient(c)
    cid = make_consultation(c, pid)
    (bad,) = push(
        c,
        change(
            cid, "consultation", {"status": "closed", "reason": "会诊"}, base_rev=1, patient_id=pid
        ),
    )
    assert bad["status"] == "rejected" and bad["reason"] == "invalid_transition"
    (bad,) = push(c, change(new_id(), "consultation", {"status": "nonsense"}, patient_id=pid))
    assert bad["reason"] == "invalid"
    (bad,) = push(c, change(new_id(), "note", {"text": "x"}))
    assert bad["reason"] == "invalid" and "patient_id" in bad["message"]
    (bad,) = push(
        c, change(new_id(), "attachment", {"blobs": [{"sha256": "a" * 64}]}, patient_id=pid)
    )
    assert bad["reason"] == "missing_blob"
    (bad,) = push(c, change(pid, "note", {"text": "x"}, base_rev=1, patient_id=pid))
    assert bad["reason"] == "type_mismatch"
    other = make_patient(c)
    nid = new_id()
    push(c, change(nid, "note", {"text": "x"}, patient_id=pid))
    (bad,) = push(c, change(nid, "note", {"text": "y"}, base_rev=1, patient_id=other))
    assert bad["reason"] == "scope_change"
    (bad,) = push(c, change(nid, "note", {"text": "y"}, base_rev=9, patient_id=pid))
    assert bad["reason"] == "unknown_base_rev"
    # One bad change does not stop the others in the batch.
    good = change(new_id(), "note", {"text": "ok"}, patient_id=pid)
    res = push(c, change(new_id(), "note", {"text": "x"}), good)
    assert [r["status"] for r in res] == ["rejected", "applied"]


def test_new_specialist_receives_earlier_documents(net):
    doc, coord = net.client("doc_a"), net.client("coord")
    card = net.client("cardiologist")
    card_cursor = _cursor(card)
    pid = make_patient(doc, "赵大山")
    cid = make_consultation(doc, pid, target_facility_id="county", department="放射科")
    nid = new_id()
    push(doc, change(nid, "note", {"text": "胸闷"}, patient_id=pid, consultation_id=cid))
    assert not any(d["id"] == nid for d in pull_all(card, card_cursor)[0])
    # The coordinator at the county hospital assigns the cardiologist.
    cons = coord.get(f"/api/v1/documents/{cid}").json()
    fields = {**cons["fields"], "department": "心内科", "specialist_id": net.users["cardiologist"]}
    (res,) = push(coord, change(cid, "consultation", fields, base_rev=cons["rev"], patient_id=pid))
    assert res["status"] == "applied"
    got = {d["id"] for d in pull_all(card, card_cursor)[0]}
    assert {pid, cid, nid} <= got, (
        "the cardiologist's next pull brings the patient, consultation and note"
    )


def test_concurrent_pushes_are_never_skipped_by_a_pull(net):
    """Writers commit while a reader pulls repeatedly: every document shows up exactly once."""
    start = _cursor(net.client("doc_a"))
    pid = make_patient(net.client("doc_a"))
    written: list[str] = []
    lock = threading.Lock()

    def writer() -> None:
        with net.client("doc_a") as c:
            for _ in range(8):
                batch = [
                    change(new_id(), "vitals", {"pulse": 70}, patient_id=pid) for _ in range(5)
                ]
                push(c, *batch)
                with lock:
                    written.extend(b["id"] for b in batch)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    seen: list[str] = []
    cursor = start
    with net.client("doc_a") as reader:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            docs, cursor = pull_all(reader, cursor, limit=13)
            seen.extend(d["id"] for d in docs)
        for t in threads:
            t.join()
        docs, cursor = pull_all(reader, cursor)
        seen.extend(d["id"] for d in docs)
    vitals_seen = [s for s in seen if s in set(written)]
    assert len(written) == 160
    assert sorted(vitals_seen) == sorted(written), "each committed change pulled exactly once"
