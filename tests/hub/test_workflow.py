"""The consultation workflow as the hub enforces it, over real HTTP on SQLite and PostgreSQL:
routing, drafts, who may take each step, write rules by record type and role (issue 12 items
3 and 8), informed consent, signed reports, the directory and sync hints."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import sqlalchemy as sa
from websockets.asyncio.client import connect

from app.protocol.consultation import Side, apply_action
from app.protocol.records import amendment, sign_report
from hub import db as t
from tests.hub.conftest import (
    change,
    consent,
    make_consultation,
    make_patient,
    new_id,
    pull_all,
    push,
)


def _doc(net, doc_id: str) -> dict:
    with net.state.db.read() as conn:
        row = conn.execute(sa.select(t.documents).where(t.documents.c.id == doc_id)).one()
    return {"rev": row.rev, "fields": dict(row.fields), "deleted": row.deleted}


def _act(net, who: str, cid: str, pid: str, action: str, side: Side, **params) -> dict:
    """Push ``action`` taken by ``who`` on consultation ``cid`` (as a client would)."""
    cur = _doc(net, cid)
    fields = apply_action(cur["fields"], action, side, net.users[who], who, **params)
    (res,) = push(
        net.client(who), change(cid, "consultation", fields, base_rev=cur["rev"], patient_id=pid)
    )
    return res


def _raw(net, who: str, cid: str, pid: str, **updates) -> dict:
    """Push the consultation with ``updates`` applied directly (bypassing the client's table)."""
    cur = _doc(net, cid)
    (res,) = push(
        net.client(who),
        change(
            cid, "consultation", {**cur["fields"], **updates}, base_rev=cur["rev"], patient_id=pid
        ),
    )
    return res


def _sees(net, who: str, doc_id: str) -> bool:
    return net.client(who).get(f"/api/v1/documents/{doc_id}").status_code == 200


def test_a_draft_is_the_clinics_alone_until_submitted(net):
    doc = net.client("doc_a")
    pid = make_patient(doc)
    cid = make_consultation(doc, pid, status="draft", specialist_id=net.users["radiologist"])
    for who in ("radiologist", "coord"):
        assert not _sees(net, who, cid), f"{who} must not see a draft"
        assert not _sees(net, who, pid), f"{who} must not see the draft's patient"
        docs, _ = pull_all(net.client(who))
        assert cid not in {d["id"] for d in docs}
    assert _sees(net, "admin_a", cid)
    res = _raw(net, "doc_a", cid, pid, status="submitted", purpose="明确诊断", consent=consent(doc))
    assert res["status"] == "applied", res
    # routed: the named specialist and the department's worklist, the coordinator; the patient too
    for who in ("radiologist", "coord"):
        docs, _ = pull_all(net.client(who))
        ids = {d["id"] for d in docs}
        assert cid in ids and pid in ids, who
    assert not _sees(net, "doc_b", cid) and not _sees(net, "prov_spec", cid)


def test_department_worklist_without_a_named_specialist(net):
    doc = net.client("doc_a")
    pid = make_patient(doc)
    cid = make_consultation(doc, pid, department="心内科")
    assert _sees(net, "cardiologist", cid)
    assert not _sees(net, "radiologist", cid), "another department"
    res = _act(net, "cardiologist", cid, pid, "accept", Side.target)
    assert res["status"] == "applied", res


def test_submit_without_consent_is_refused_naming_the_field(net):
    doc = net.client("doc_a")
    pid = make_patient(doc)
    cid = make_consultation(doc, pid, status="draft")
    res = _raw(net, "doc_a", cid, pid, status="submitted", purpose="明确诊断")
    assert res["status"] == "rejected" and res["reason"] == "invalid"
    assert res["problems"] and res["problems"][0]["field"].startswith("consent")
    assert res["problems"][0]["code"] == "consent_required"
    # a scan the clinic cannot read (never uploaded) is no consent either
    fake = {**consent(doc), "scan": {"sha256": "e" * 64, "name": "x.jpg"}}
    res = _raw(net, "doc_a", cid, pid, status="submitted", purpose="明确诊断", consent=fake)
    assert res["status"] == "rejected" and res["problems"][0]["field"] == "consent.scan"
    assert _doc(net, cid)["fields"]["status"] == "draft", "nothing changed"
    assert not _sees(net, "radiologist", cid)


def test_each_step_belongs_to_its_side(net):
    doc = net.client("doc_a")
    pid = make_patient(doc)
    cid = make_consultation(doc, pid, specialist_id=net.users["radiologist"])
    # the clinic cannot accept its own request; the message says why, nothing changes
    res = _raw(net, "doc_a", cid, pid, status="accepted")
    assert res["status"] == "rejected" and res["reason"] == "forbidden", res
    assert "side" in res["message"]
    assert _doc(net, cid)["fields"]["status"] == "submitted"
    # another specialist of the same hospital is not the assigned one
    assert _raw(net, "cardiologist", cid, pid, status="accepted")["status"] == "rejected"
    # declining needs a reason
    res = _raw(net, "radiologist", cid, pid, status="declined")
    assert res["status"] == "rejected" and res["problems"][0]["field"] == "decline_reason"
    assert _act(net, "radiologist", cid, pid, "accept", Side.target)["status"] == "applied"
    # the specialist cannot rewrite the request itself
    res = _raw(net, "radiologist", cid, pid, purpose="改写")
    assert res["status"] == "rejected" and res["reason"] == "forbidden"
    # time: the specialist proposes, cannot confirm their own proposal; the clinic confirms
    t1 = "2026-12-01T09:30:00+08:00"
    assert (
        _act(net, "radiologist", cid, pid, "propose_time", Side.target, time=t1)["status"]
        == "applied"
    )
    res = _raw(net, "radiologist", cid, pid, status="scheduled", scheduled_at=t1, proposed_time="")
    assert res["status"] == "rejected" and res["reason"] == "forbidden"
    # the clinic answers with another time, the specialist confirms that one
    t2 = "2026-12-01T14:00:00+08:00"
    assert (
        _act(net, "doc_a", cid, pid, "propose_time", Side.requester, time=t2)["status"] == "applied"
    )
    res = _act(net, "radiologist", cid, pid, "confirm_time", Side.target)
    assert res["status"] == "applied" and res["document"]["fields"]["scheduled_at"] == t2
    # a report status without a signed report is refused
    res = _raw(net, "radiologist", cid, pid, status="reported")
    assert res["status"] == "rejected" and res["reason"] == "invalid_transition"
    # skipping steps is refused for everyone
    assert _raw(net, "doc_a", cid, pid, status="draft")["reason"] == "invalid_transition"
    history = _doc(net, cid)["fields"]["history"]
    assert [h["action"] for h in history] == [
        "accept",
        "propose_time",
        "propose_time",
        "confirm_time",
    ]
    # the timeline only grows
    res = _raw(net, "doc_a", cid, pid, history=history[:1])
    assert res["status"] == "rejected"


def test_write_rules_by_record_type_and_role(net):
    """Issue 12 item 3: seeing a record is not owning it."""
    doc = net.client("doc_a")
    pid = make_patient(doc)
    cid = make_consultation(doc, pid, specialist_id=net.users["radiologist"])
    note = new_id()
    (res,) = push(doc, change(note, "note", {"text": "咳嗽"}, patient_id=pid, consultation_id=cid))
    assert res["status"] == "applied"
    patient = _doc(net, pid)
    for who in ("radiologist", "coord"):
        c = net.client(who)
        edits = [
            change(
                pid,
                "patient",
                {**patient["fields"], "id_card": "11010519491231002X"},
                base_rev=patient["rev"],
            ),
            change(note, "note", {}, base_rev=1, deleted=True, patient_id=pid, consultation_id=cid),
            change(new_id(), "vitals", {"spo2": 90}, patient_id=pid, consultation_id=cid),
            change(new_id(), "note", {"text": "私下记录"}, patient_id=pid),
            change(new_id(), "consultation", {"status": "draft"}, patient_id=pid),
        ]
        results = push(c, *edits)
        assert [r["status"] for r in results] == ["rejected"] * 5, (who, results)
        assert {r["reason"] for r in results} == {"forbidden"}, results
    assert _doc(net, pid)["fields"] == patient["fields"] and not _doc(net, note)["deleted"]
    # their own records inside the consultation are fine
    (res,) = push(
        net.client("radiologist"),
        change(new_id(), "note", {"text": "建议增强CT"}, patient_id=pid, consultation_id=cid),
    )
    assert res["status"] == "applied"
    # a specialist of another hospital cannot touch the patient at all
    (res,) = push(
        net.client("prov_spec"),
        change(pid, "patient", {**patient["fields"], "name": "X"}, base_rev=patient["rev"]),
    )
    # (answered like a document that does not exist: not yours and not there look the same)
    assert res["status"] == "rejected" and res["reason"] in ("forbidden", "not_found")
    assert _doc(net, pid)["fields"]["name"] == patient["fields"]["name"]
    # participants change only by the target facility's coordinator
    res = _raw(net, "radiologist", cid, pid, specialist_id=net.users["prov_spec"])
    assert res["status"] == "rejected" and res["reason"] == "forbidden"
    res = _raw(net, "doc_a", cid, pid, target_facility_id="province")
    assert res["status"] == "rejected" and res["reason"] == "forbidden"
    assert not _sees(net, "prov_spec", pid)
    res = _act(
        net,
        "coord",
        cid,
        pid,
        "assign",
        Side.coordinator,
        specialist_id=net.users["cardiologist"],
        department="心内科",
    )
    assert res["status"] == "applied", res
    assert _sees(net, "cardiologist", cid) and _sees(net, "cardiologist", pid)
    assert _act(net, "cardiologist", cid, pid, "accept", Side.target)["status"] == "applied"


def test_signed_report_is_immutable_and_amended_by_a_new_version(net):
    doc = net.client("doc_a")
    rad = net.client("radiologist")
    pid = make_patient(doc)
    cid = make_consultation(
        doc, pid, consultation_type="imaging", specialist_id=net.users["radiologist"]
    )
    assert _act(net, "radiologist", cid, pid, "accept", Side.target)["status"] == "applied"
    me = {"id": net.users["radiologist"], "name": "Radiologist", "title": "主任医师"}
    body = {
        "findings": "右肺上叶结节 8 mm",
        "opinion": "建议三个月后复查CT",
        "diagnosis_code": "R91",
    }
    # the clinic cannot write a report, nor a specialist sign in someone else's name
    (res,) = push(doc, change(new_id(), "report", body, patient_id=pid, consultation_id=cid))
    assert res["status"] == "rejected" and res["reason"] == "forbidden"
    forged = sign_report(body, {**me, "id": net.users["cardiologist"]}, "2026-12-01T10:00:00+08:00")
    (res,) = push(rad, change(new_id(), "report", forged, patient_id=pid, consultation_id=cid))
    assert res["status"] == "rejected"
    signed = sign_report(body, me, "2026-12-01T10:00:00+08:00")
    tampered = {**signed, "opinion": "无需复查"}
    (res,) = push(rad, change(new_id(), "report", tampered, patient_id=pid, consultation_id=cid))
    assert res["status"] == "rejected" and res["problems"][0]["field"] == "content_hash"
    rid = new_id()
    (res,) = push(rad, change(rid, "report", signed, patient_id=pid, consultation_id=cid))
    assert res["status"] == "applied", res
    stored = _doc(net, rid)
    assert stored["fields"]["content_hash"] == signed["content_hash"]
    assert stored["fields"]["signer"]["id"] == net.users["radiologist"]
    # any change, by anyone, is refused; so is deleting it
    for fields, deleted in (({**signed, "opinion": "改"}, False), ({}, True)):
        (res,) = push(
            rad,
            change(
                rid,
                "report",
                fields,
                base_rev=1,
                deleted=deleted,
                patient_id=pid,
                consultation_id=cid,
            ),
        )
        assert res["status"] == "rejected" and res["reason"] == "immutable", res
    assert _doc(net, rid) == stored
    assert _act(net, "radiologist", cid, pid, "report", Side.target)["status"] == "applied"
    # an amendment must say why and reference the signed report
    fix = amendment(signed, rid, "")
    (res,) = push(rad, change(new_id(), "report", fix, patient_id=pid, consultation_id=cid))
    assert res["status"] == "rejected" and res["problems"][0]["code"] == "amendment_reason_required"
    fix = sign_report(
        {**amendment(signed, rid, "结节大小笔误"), "findings": "右肺上叶结节 6 mm"},
        me,
        "2026-12-01T11:00:00+08:00",
    )
    aid = new_id()
    (res,) = push(rad, change(aid, "report", fix, patient_id=pid, consultation_id=cid))
    assert res["status"] == "applied", res
    docs, _ = pull_all(doc)
    reports = {
        d["id"]: d["fields"] for d in docs if d["type"] == "report" and d["consultation_id"] == cid
    }
    assert set(reports) == {rid, aid}, "both versions kept and shown to the clinic"
    assert reports[aid]["amends"] == rid and reports[aid]["version"] == 2


def test_directory_lists_departments_and_titled_specialists(net):
    with net.state.db.write() as conn:
        conn.execute(
            t.users.update().where(t.users.c.username == "radiologist").values(title="主任医师")
        )
    r = net.client("doc_a").get("/api/v1/directory")
    assert r.status_code == 200
    county = next(f for f in r.json()["facilities"] if f["id"] == "county")
    depts = {d["name"]: d for d in county["departments"]}
    assert set(depts) == {"放射科", "心内科"}, "departments with specialists, not 医务科"
    (rad,) = depts["放射科"]["specialists"]
    assert rad == {
        "id": net.users["radiologist"],
        "display_name": "Radiologist",
        "title": "主任医师",
    }
    assert net.client().get("/api/v1/directory").status_code == 401


def test_the_other_side_is_hinted_to_pull(net):
    """A push by the clinic sends sync.hint to the specialist's socket (not to strangers)."""
    doc = net.client("doc_a")
    pid = make_patient(doc)
    ws_url = net.url.replace("http://", "ws://") + "/api/v1/ws?purpose=sync"

    async def listen(who: str, got: list, ready: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {net.tokens[who]}"}
        async with connect(ws_url, additional_headers=headers) as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello" and hello["missed_calls"] == []
            ready.set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                if frame["type"] == "sync.hint":
                    got.append(frame)
                    return

    async def scenario() -> tuple[list, list]:
        rad, stranger = [], []
        ready = [asyncio.Event(), asyncio.Event()]
        tasks = [
            asyncio.create_task(listen("radiologist", rad, ready[0])),
            asyncio.create_task(listen("doc_b", stranger, ready[1])),
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 20)
        await asyncio.to_thread(make_consultation, doc, pid, specialist_id=net.users["radiologist"])
        await asyncio.wait_for(tasks[0], 30)
        tasks[1].cancel()
        return rad, stranger

    rad, stranger = asyncio.run(scenario())
    assert rad and rad[0]["seq"] > 0
    assert stranger == []


@pytest.mark.parametrize(
    "field,value,code",
    [
        ("id_card", "110105194912310020", "id_card_checksum"),
        ("id_card", "11010519491231002", "id_card_length"),
        ("birth_date", "1950-01-01", "id_card_birth_mismatch"),
    ],
)
def test_resident_id_checked_on_the_hub(net, field, value, code):
    fields = {"name": "王秀英", "id_card": "11010519491231002X", field: value}
    (res,) = push(net.client("doc_a"), change(new_id(), "patient", fields))
    assert res["status"] == "rejected" and res["reason"] == "invalid"
    assert [(p["field"], p["code"]) for p in res["problems"]] == [
        (
            "id_card"
            if code.startswith("id_card_") and code != "id_card_birth_mismatch"
            else field,
            code,
        )
    ]
