"""The shared consultation rules, Qt-free: resident IDs, field problems, the lifecycle table,
notifications from records, the meter CSV import and the ICD-10 list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from app.consult import icd10
from app.consult.meter_csv import parse_meter_csv
from app.consult.notifications import NotificationTracker, derive
from app.protocol import resident_id
from app.protocol.consultation import (
    ACTIONS,
    Participants,
    Side,
    TransitionRefused,
    allowed_actions,
    apply_action,
    check_change,
    side_of,
)
from app.protocol.records import RecordInvalid, record_problems, validate_fields
from app.protocol.sync import DocType


def test_resident_id_check_digit_and_what_it_encodes():
    # GB 11643 worked example: 11010519491231002X
    rid = resident_id.parse("11010519491231002x")
    assert (rid.number, rid.birth_date, rid.sex) == ("11010519491231002X", "1949-12-31", "F")
    with pytest.raises(ValueError) as bad:
        resident_id.parse("110105194912310021")
    assert (bad.value.args[0].code, bad.value.args[0].params) == (
        "id_card_checksum",
        {"check_character": "X"},
    )
    for raw, code in (
        ("1101051949123", "id_card_length"),
        ("11010519491231002A", "id_card_format"),
        ("110105194902300021", "id_card_birth_date"),
    ):
        with pytest.raises(ValueError) as bad:
            resident_id.parse(raw)
        assert bad.value.args[0].code == code, raw
    assert resident_id.parse(resident_id.make("532901", date(1985, 1, 30), 331)).sex == "M"


def test_patient_problems_are_codes_naming_fields_never_english():
    number = resident_id.make("532901", date(1956, 3, 14), 122)
    problems = record_problems(
        "patient", {"name": "王秀英", "id_card": number, "birth_date": "1956-03-15"}
    )
    assert [(p.field, p.code, p.params) for p in problems] == [
        ("birth_date", "id_card_birth_mismatch", {"from_id": "1956-03-14"})
    ]
    problems = record_problems("patient", {"name": "王秀英", "id_card": number, "sex": "M"})
    assert [(p.field, p.code) for p in problems] == [("sex", "id_card_sex_mismatch")]
    with pytest.raises(RecordInvalid) as refused:
        validate_fields("patient", {"name": "", "birth_date": "1956-02-30"})
    assert [(p.field, p.code) for p in refused.value.problems] == [
        ("name", "required"),
        ("birth_date", "date_format"),
    ]
    problems = record_problems("consultation", {"diagnosis_code": "高血压", "urgency": "soon"})
    assert {(p.field, p.code) for p in problems} == {
        ("diagnosis_code", "icd10_format"),
        ("urgency", "choice"),
    }
    assert validate_fields("consultation", {"diagnosis_code": "i10"})["diagnosis_code"] == "I10"


CLINIC = Participants("clinic", "county", "放射科", "")


@dataclass
class U:
    id: str
    role: str
    facility_id: str
    department: str = ""
    display_name: str = ""


DOCTOR = U("d1", "clinic_doctor", "clinic", "全科", "陈志强")
RAD = U("r1", "specialist", "county", "放射科", "王立华")
CARD = U("c1", "specialist", "county", "心内科", "刘敏")
COORD = U("k1", "coordinator", "county", "医务科", "赵芳")
OTHER = U("o1", "specialist", "province", "放射科")

CONSENT = {
    "given_by": "relative",
    "signer_name": "李红",
    "relation": "女儿",
    "signed_at": "2026-11-20T09:00:00+08:00",
    "scan": {"sha256": "a" * 64, "name": "consent.jpg", "media_type": "image/jpeg"},
}


def _draft(**kw) -> dict:
    return validate_fields(
        "consultation",
        {"target_facility_id": "county", "department": "放射科", "purpose": "明确诊断", **kw},
    )


def test_sides():
    assert side_of(DOCTOR, CLINIC) is Side.requester
    assert side_of(RAD, CLINIC) is Side.target
    assert side_of(CARD, CLINIC) is Side.none, "another department"
    assert side_of(COORD, CLINIC) is Side.coordinator
    assert side_of(OTHER, CLINIC) is Side.none
    named = Participants("clinic", "county", "放射科", "x9")
    assert side_of(RAD, named) is Side.none, "a named specialist takes it, not the department"


def test_walk_the_lifecycle_with_the_table():
    f = _draft()
    assert allowed_actions(f, Side.requester) == ["submit"]
    assert allowed_actions(f, Side.target) == []
    with pytest.raises(TransitionRefused) as refused:
        check_change(f, {**f, "status": "submitted"}, Side.requester)
    assert refused.value.field.startswith("consent")
    f = _draft(consent=CONSENT)
    f = apply_action(f, "submit", Side.requester, "d1")
    assert allowed_actions(f, Side.requester) == ["withdraw"]
    assert allowed_actions(f, Side.target) == ["accept", "decline"]
    assert allowed_actions(f, Side.coordinator) == ["assign"]
    with pytest.raises(TransitionRefused):
        apply_action(f, "accept", Side.requester, "d1")
    f = apply_action(f, "accept", Side.target, "r1")
    f = apply_action(f, "propose_time", Side.target, "r1", time="2026-12-01T09:00:00+08:00")
    assert "confirm_time" not in allowed_actions(f, Side.target)
    assert "confirm_time" in allowed_actions(f, Side.requester)
    g = apply_action(f, "confirm_time", Side.requester, "d1")
    assert g["status"] == "scheduled" and g["scheduled_at"] == "2026-12-01T09:00:00+08:00"
    assert check_change(f, g, Side.requester) == "confirm_time"
    with pytest.raises(TransitionRefused):
        check_change(f, g, Side.target)
    g = apply_action(g, "start_call", Side.target, "r1")
    g = apply_action(g, "report", Side.target, "r1")
    g = apply_action(g, "close", Side.requester, "d1")
    assert [h["action"] for h in g["history"]] == [
        "submit",
        "accept",
        "propose_time",
        "confirm_time",
        "start_call",
        "report",
        "close",
    ]
    assert all(h["at"] for h in g["history"])


def test_store_and_forward_has_no_call_buttons():
    f = apply_action(
        _draft(consent=CONSENT, consultation_type="ecg"), "submit", Side.requester, "d1"
    )
    f = apply_action(f, "accept", Side.target, "r1")
    assert "start_call" not in allowed_actions(f, Side.target)
    assert "report" in allowed_actions(f, Side.target)


def test_every_action_is_reachable_and_named():
    assert set(ACTIONS) == {
        "submit",
        "withdraw",
        "revise",
        "accept",
        "decline",
        "propose_time",
        "confirm_time",
        "start_call",
        "end_call",
        "report",
        "close",
        "assign",
    }


@dataclass
class Doc:
    id: str
    type: DocType
    fields: dict
    facility_id: str = "clinic"
    patient_id: str = "p1"
    consultation_id: str | None = None
    deleted: bool = False


@dataclass
class FakeCache:
    state: dict = field(default_factory=dict)

    def get_state(self, key, default=None):
        return self.state.get(key, default)

    def set_state(self, key, value, db=None):
        self.state[key] = value


@dataclass
class FakeStore:
    docs: list

    def list(self, doc_type):
        return [d for d in self.docs if d.type == doc_type]


def test_notifications_follow_the_records_once_each():
    f = apply_action(_draft(consent=CONSENT), "submit", Side.requester, "d1", "陈志强")
    cons = Doc(str(uuid.uuid4()), DocType.consultation, f)
    store = FakeStore([cons])
    rad_seen, doc_seen = NotificationTracker(FakeCache()), NotificationTracker(FakeCache())
    assert [n.kind for n in derive(store.docs, RAD)] == ["submit"]
    assert derive(store.docs, DOCTOR) == [], "my own steps are not news"
    assert derive(store.docs, CARD) == [], "not in my worklist"
    rad_seen.cache.state["notifications_seen"] = "[]"  # an existing profile, not a first sync
    assert [n.kind for n in rad_seen.new(store, RAD)] == ["submit"]
    assert rad_seen.new(store, RAD) == [], "each once"
    assert doc_seen.new(store, DOCTOR) == []  # first call on a profile: baseline
    soon = (datetime.now(UTC) + timedelta(minutes=10)).isoformat(timespec="seconds")
    f = apply_action(f, "accept", Side.target, "r1", "王立华")
    f = apply_action(f, "propose_time", Side.target, "r1", "王立华", time=soon)
    f = apply_action(f, "confirm_time", Side.requester, "d1", "陈志强")
    cons.fields = f
    report = Doc(
        str(uuid.uuid4()),
        DocType.report,
        {"signed": True, "signer": {"id": "r1", "name": "王立华"}, "signed_at": soon},
        facility_id="county",
        consultation_id=cons.id,
    )
    store.docs.append(report)
    got = doc_seen.new(store, DOCTOR)
    assert [n.kind for n in got] == ["accept", "propose_time", "call_soon", "report_signed"] or [
        n.kind for n in got
    ] == ["accept", "propose_time", "report_signed", "call_soon"]
    assert next(n for n in got if n.kind == "propose_time").params["time"] == soon
    assert doc_seen.new(store, DOCTOR) == []
    assert [n.kind for n in rad_seen.new(store, RAD)] == ["confirm_time", "call_soon"]


def test_meter_csv_keeps_good_rows_and_names_bad_lines():
    text = (
        "\ufeff测量时间;收缩压(mmHg);舒张压(mmHg);脉搏;血糖;备注\n"
        "2026-11-20 07:30;150;92;78;6.1;早\n"
        "2026/11/20 19:30;abc;90;70;;晚\n"
        "\n"
        "2026-11-21 07:30;400;90;70;;\n"
        "2026-11-21 19:30;;;;;\n"
        "yesterday;140;85;70;;\n"
        "2026-11-22 07:30;138;84;72;5.6;\n"
    )
    rows, errors = parse_meter_csv(text)
    assert [r["measured_at"] for r in rows] == ["2026-11-20T07:30", "2026-11-22T07:30"]
    assert rows[0] == {
        "measured_at": "2026-11-20T07:30",
        "bp_systolic": 150,
        "bp_diastolic": 92,
        "heart_rate": 78,
        "glucose": 6.1,
        "source": "meter_csv",
    }
    assert [(line, p.field, p.code) for line, p in errors] == [
        (3, "bp_systolic", "not_a_number"),
        (5, "bp_systolic", "too_high"),
        (6, "", "required"),
        (7, "measured_at", "datetime_format"),
    ]
    rows, errors = parse_meter_csv("sys,dia\n120,80\n")
    assert rows == [] and errors[0][:1] == (1,) and errors[0][1].field == "measured_at"


def test_icd10_list_searches_code_name_and_pinyin():
    assert icd10.search("I10")[0] == ("I10", "原发性高血压", "Essential (primary) hypertension")
    assert icd10.search("糖尿病")[0][0].startswith("E1")
    assert ("I10", "原发性高血压", "Essential (primary) hypertension") in icd10.search("gxy")
    assert icd10.lookup("r91").name_zh.startswith("肺")
    from app.protocol.records import ICD10_PATTERN

    assert all(ICD10_PATTERN.match(c.code) for c in icd10.CODES)
    assert len({c.code for c in icd10.CODES}) == len(icd10.CODES)
