"""Property (finding 1): whatever text and JSON shapes a client pushes — every plane,
surrogates, controls, nesting, huge and odd numbers — the hub either refuses it at the edge
(422) or stores it and serves it back unchanged, on a read and on a pull. Never a 500, never
a pull that breaks."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.protocol.text import find_bad_text
from tests.hub.conftest import change, make_patient, new_id, pull_all

# Every code point, surrogates included (hypothesis leaves out category Cs by default).
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
TEXT = st.text(ANY_CHAR, max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(TEXT, kids, max_size=4),
    max_leaves=16,
)
FIELDS = st.dictionaries(TEXT, JSON_VALUES, max_size=5)


def _finite_everywhere(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_everywhere(v) for v in value)
    return True


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fields=FIELDS)
def test_everything_accepted_is_served_back(net, fields):
    # a patient needs a name (the hub checks the shared schema); everything else is fuzz
    fields = {**fields, "name": "模糊测试"}
    c = net.client("doc_a")
    doc_id = new_id()
    fields = {**fields, "name": "王秀英"}  # a patient needs a name (app/protocol/records.py)
    # ensure_ascii writes lone surrogates as \udxxx escapes: raw JSON text, as any client may.
    raw = json.dumps({"changes": [change(doc_id, "patient", fields)]}, ensure_ascii=True)
    r = c.post("/api/v1/sync/push", content=raw, headers={"Content-Type": "application/json"})
    servable = find_bad_text(fields) is None and _finite_everywhere(fields)
    if not servable:
        assert r.status_code == 422, r.text
        assert r.json()["error"] in ("invalid_text", "invalid_number")
        return
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    if result["status"] != "applied":  # e.g. a known field of the wrong kind: with a reason
        assert result["status"] == "rejected" and result["reason"], result
        return
    got = c.get(f"/api/v1/documents/{doc_id}")
    assert got.status_code == 200, got.text
    assert got.json()["fields"] == fields


def test_the_pull_after_the_fuzzing_still_serves_everyone(net):
    c = net.client("doc_a")
    pid = make_patient(c, "王秀英")  # record rules may have refused every fuzzed document
    docs, _ = pull_all(c)
    assert pid in {d["id"] for d in docs}
