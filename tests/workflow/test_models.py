"""The workflow's Qt-free view-models, driven directly: search as a township doctor types,
likely duplicates, the follow-up chart's ranges, the worklist's filters and sorting, the
draft that saves once typing pauses, readable records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pytest

from app.protocol import resident_id
from app.ui.workflow.chart_model import build_panels
from app.ui.workflow.patient_search import PatientIndex
from app.ui.workflow.registry_model import PatientForm
from app.ui.workflow.request_model import AUTOSAVE_S, RequestForm
from app.ui.workflow.worklist_model import WorklistModel

RID = resident_id.make("530102", date(1956, 3, 15), 124)
PATIENTS = [
    (
        "p1",
        {
            "name": "张桂兰",
            "id_card": RID,
            "phone": "138-0013-8000",
            "patient_number": "QS-0042",
            "birth_date": "1956-03-15",
        },
    ),
    ("p2", {"name": "李建国", "patient_number": "QS-7", "phone": "13912345678"}),
    ("p3", {"name": "单雄信", "patient_number": "QS-9"}),
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("zgl", ["p1"]),  # pinyin initials
        ("zhang", ["p1"]),  # full pinyin
        ("张桂", ["p1"]),  # part of the name
        ("0013", ["p1"]),  # part of the phone
        (RID.lower(), ["p1"]),  # the whole ID, typed with a small x
        (RID[:10], ["p1"]),  # part of the ID
        ("qs-7", ["p2"]),  # clinic number
        ("sxx", ["p3"]),  # 单 as a surname reads shan …
        ("dxx", ["p3"]),  # … and dan: either finds him
        ("", ["p3", "p2", "p1"]),  # pinyin order: dan, li, zhang
        ("wang", []),
    ],
)
def test_search_finds_patients_the_way_doctors_type(query: str, expected: list[str]) -> None:
    index = PatientIndex(PATIENTS)
    found = index.search(query)
    assert found[: len(expected)] == expected and len(found) == len(expected)


def test_resident_id_fills_birth_date_and_sex_and_duplicates_are_found() -> None:
    form = PatientForm()
    form.set("name", "张桂兰")
    form.set("id_card", RID.lower())
    assert form.values["birth_date"] == "1956-03-15" and form.values["sex"] == "F"
    assert form.fields()["id_card"] == RID and form.fields()["name_initials"] == "zgl"
    assert form.problems() == []
    dupes = form.duplicates(PATIENTS)
    assert [(d.doc_id, d.same_id_card) for d in dupes] == [("p1", True)]
    other = PatientForm()
    other.set("name", "张桂兰")
    other.set("birth_date", "1956-03-15")
    assert [(d.doc_id, d.same_id_card) for d in other.duplicates(PATIENTS)] == [("p1", False)]
    # A typed birth date that contradicts the ID is a problem, never silently overwritten.
    clash = PatientForm()
    clash.set("name", "张桂兰")
    clash.set("birth_date", "1957-01-01")
    clash.set("id_card", RID)
    assert clash.values["birth_date"] == "1957-01-01"
    assert [p.code for p in clash.problems()] == ["id_card_birth_mismatch"]


def test_chart_marks_points_outside_the_reference_range() -> None:
    panels = {
        p.measure.key: p
        for p in build_panels(
            [
                ("2026-11-01T08:00", {"bp_systolic": 150, "bp_diastolic": 92}, "import"),
                ("2026-11-02", {"bp_systolic": 128, "bp_diastolic": 80, "spo2": 93}, "vitals"),
                ("not a date", {"bp_systolic": 200}, "vitals"),
                ("2026-11-03T08:00", {"glucose": 7.8, "weight": "bad"}, "visit"),
            ]
        )
    }
    systolic, diastolic = panels["bp"].lines
    assert [(p.value, p.out_of_range) for p in systolic.points] == [(150, True), (128, False)]
    assert [p.out_of_range for p in diastolic.points] == [True, False]
    assert [p.out_of_range for p in panels["spo2"].lines[0].points] == [True]
    assert [p.value for p in panels["glucose"].out_of_range()] == [7.8]
    assert panels["weight"].empty
    lo, hi = panels["bp"].y_range()
    assert lo < 80 and hi > 150


@dataclass
class _Doc:
    id: str
    fields: dict[str, Any]
    facility_id: str = "qingshan"
    patient_id: str = "p1"
    extra: dict = field(default_factory=dict)


@dataclass
class _User:
    id: str = "u-rad"
    role: str = "specialist"
    facility_id: str = "county"
    department: str = "放射科"


def _c(cid: str, urgency: str, status: str, submitted: str, **kw: Any) -> _Doc:
    fields = {
        "status": status,
        "urgency": urgency,
        "consultation_type": kw.pop("kind", "imaging"),
        "target_facility_id": "county",
        "department": kw.pop("department", "放射科"),
        "history": [{"action": "submit", "at": submitted}],
        **kw,
    }
    return _Doc(cid, fields, facility_id=kw.get("facility", "qingshan"))


def test_worklist_shows_mine_sorted_by_urgency_then_waiting_with_the_tables_actions() -> None:
    docs = [
        _c("a", "routine", "submitted", "2026-11-29T08:00:00+00:00"),
        _c("b", "emergency", "submitted", "2026-11-29T09:30:00+00:00"),
        _c("c", "routine", "submitted", "2026-11-29T07:00:00+00:00"),
        _c("d", "urgent", "submitted", "2026-11-29T09:00:00+00:00", department="心内科"),
        _c("e", "urgent", "closed", "2026-11-28T09:00:00+00:00"),
        _c("f", "routine", "accepted", "2026-11-29T06:00:00+00:00", kind="video"),
    ]
    model = WorklistModel(_User(), now=lambda: datetime(2026, 11, 29, 10, 0))
    model.load(docs, {"p1": {"name": "张桂兰"}})
    assert [r.id for r in model.visible()] == ["b", "f", "c", "a"]  # not cardiology's, not closed
    assert model.row("b").actions == ["accept", "decline"]
    assert model.row("b").waiting_s(model.now()) == 30 * 60
    model.sort = "waiting"
    assert [r.id for r in model.visible()] == ["f", "c", "a", "b"]
    model.filters.urgencies = {"routine"}
    model.filters.kinds = {"imaging"}
    assert [r.id for r in model.visible()] == ["c", "a"]
    clinic = WorklistModel(_User("u-doc", "clinic_doctor", "qingshan", ""))
    clinic.load(docs, {})
    assert clinic.row("b").actions == ["withdraw"]  # the clinic never gets accept


class _Store:
    def __init__(self) -> None:
        self.docs: dict[str, Any] = {}
        self.writes = 0

    def create(self, doc_type: Any, fields: dict, patient_id: str) -> Any:
        self.writes += 1
        doc = _Doc(f"c{self.writes}", dict(fields), patient_id=patient_id)
        self.docs[doc.id] = doc
        return doc

    def get(self, doc_id: str) -> Any:
        return self.docs.get(doc_id)

    def update(self, doc_id: str, changes: dict) -> Any:
        self.writes += 1
        self.docs[doc_id].fields.update(changes)
        return self.docs[doc_id]


def test_draft_saves_once_typing_pauses_and_keeps_every_field() -> None:
    form = RequestForm("p1")
    store = _Store()
    form.set("purpose", "明确诊断", now=10.0)
    form.set("reason", "咳", now=10.3)
    assert not form.autosave_due(10.3 + AUTOSAVE_S / 2)
    assert form.autosave_due(10.3 + AUTOSAVE_S)
    form.save(store)
    assert store.get(form.consultation_id).fields["purpose"] == "明确诊断"
    assert not form.autosave_due(100.0)
    form.set("reason", "", now=20.0)  # emptied in the form → emptied in the record
    form.set_vital("bp_systolic", 150, now=20.1)
    form.save(store)
    saved = store.get(form.consultation_id).fields
    assert saved["reason"] == "" and saved["vitals"] == {"bp_systolic": 150}
    reopened = RequestForm.from_draft(store.get(form.consultation_id))
    assert reopened.values["purpose"] == "明确诊断"
    codes = {p.field: p.code for p in reopened.submit_problems()}
    assert codes["consent"] == "consent_required" and codes["target_facility_id"] == "required"


def test_records_read_in_chinese_with_units(qapp) -> None:
    from app.ui.i18n import install_translators
    from app.ui.workflow.record_text import describe

    install_translators("zh_CN")
    try:
        vitals = describe(
            "vitals",
            {"measured_at": "2026-11-20T08:30", "bp_systolic": 150, "bp_diastolic": 92, "spo2": 96},
        )
        assert vitals.title == "生命体征"
        assert "血压 150/92 mmHg" in vitals.lines and "SpO2 96 %" in vitals.lines
        assert "bp_systolic" not in vitals.one_line() and "2026" in vitals.when
        report = describe(
            "report",
            {"version": 2, "opinion": "建议随访", "signed": True, "signer": {"name": "赵影像"}},
        )
        assert report.title == "会诊报告，更正 1" and any("建议随访" in x for x in report.lines)
    finally:
        install_translators("en")
