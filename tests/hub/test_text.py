"""Finding 1: one document must not poison sync. Text the hub cannot send back is refused
at the edge with 422 naming the field; a damaged row already stored is left out of a pull
(the rest is served) and named in the audit log."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from hub import db as t
from tests.hub.conftest import change, make_patient, new_id, pull_all


@pytest.mark.parametrize(
    ("escape", "problem"),
    [
        ("\\ud800", "surrogate"),
        ("x\\udfff", "surrogate"),
        ("\\u0000", "NUL"),
        ("\\uffff", "non-character"),
        ("\\ufdd0", "non-character"),
    ],
)
def test_unservable_text_is_refused_naming_the_field(net, escape, problem):
    c = net.client("doc_a")
    doc_id = new_id()
    raw = json.dumps({"changes": [change(doc_id, "patient", {"name": "PLACEHOLDER"})]})
    raw = raw.replace("PLACEHOLDER", escape)  # raw JSON text, as the reviewer sent it
    r = c.post("/api/v1/sync/push", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_text"
    assert "changes.0.fields.name" in body["message"] and problem in body["message"]
    # The connection and everyone's pull still work.
    docs, _ = pull_all(c)
    assert doc_id not in {d["id"] for d in docs}


def test_a_bad_key_is_refused_too(net):
    c = net.client("doc_a")
    raw = json.dumps({"changes": [change(new_id(), "patient", {"KEY": "x"})]})
    raw = raw.replace('"KEY"', '"\\ud800"')
    r = c.post("/api/v1/sync/push", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "changes.0.fields" in r.json()["message"]


def test_valid_astral_and_cjk_text_round_trips(net):
    c = net.client("doc_a")
    name = "𠀀𪚥王秀英 \U0001f600\t\x01"
    pid = make_patient(c, name)
    got = c.get(f"/api/v1/documents/{pid}").json()
    assert got["fields"]["name"] == name


def test_a_damaged_stored_row_does_not_stop_the_pull(net):
    """A row stored by an older hub that cannot be encoded: the pull serves the rest and the
    audit log names the bad id."""
    c = net.client("doc_a")
    good = make_patient(c, "好")
    bad = make_patient(c, "坏")
    with net.state.db.write() as conn:
        conn.execute(
            t.documents.update().where(t.documents.c.id == bad).values(fields={"name": "\ud800"})
        )
    after = make_patient(c, "后")
    docs, _ = pull_all(c)
    ids = {d["id"] for d in docs}
    assert good in ids and after in ids and bad not in ids
    with net.state.db.read() as conn:
        flagged = (
            conn.execute(sa.select(t.audit.c.doc_id).where(t.audit.c.action == "unservable"))
            .scalars()
            .all()
        )
    assert bad in flagged
    r = c.get(f"/api/v1/documents/{bad}")
    assert r.status_code == 500 and r.json()["error"] == "document_damaged"
    # Mend the row so later tests of this module's hub pull cleanly.
    with net.state.db.write() as conn:
        conn.execute(
            t.documents.update().where(t.documents.c.id == bad).values(fields={"name": "坏"})
        )
