"""Demo network for a first-time user: a township clinic, a county hospital, people,
Chinese-named patients, consultations in several states, and real DICOM from pydicom.

All records go through the same push logic clients use. Seeding is idempotent: it does
nothing when the demo clinic already exists.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa

from app.protocol.auth import UserInfo
from app.protocol.records import validate_fields
from app.protocol.sync import Change, DocType, PushStatus
from hub import accounts, auth, blobs, records
from hub import db as t
from hub.state import HubState

DEMO_PASSWORD = "demo1234"
CLINIC_ID = "qingshan-clinic"
COUNTY_ID = "dongchuan-county"
PROVINCE_ID = "yunling-center"

# username → (display name, role, facility, department)
DEMO_USERS: dict[str, tuple[str, str, str, str]] = {
    "doctor": ("陈志强", "clinic_doctor", CLINIC_ID, "全科"),
    "specialist": ("王立华", "specialist", COUNTY_ID, "放射科"),
    "specialist2": ("刘敏", "specialist", COUNTY_ID, "心内科"),
    "coordinator": ("赵芳", "coordinator", COUNTY_ID, "医务科"),
    "admin": ("系统管理员", "admin", COUNTY_ID, ""),
}
"""Demo accounts; every one signs in with :data:`DEMO_PASSWORD`."""

_NS = uuid.UUID("6d1f3c1e-4a8b-4c59-9d7e-0f5a2b9c1e77")


def _id(name: str) -> uuid.UUID:
    return uuid.uuid5(_NS, name)


def _user(state: HubState, username: str) -> UserInfo:
    with state.db.read() as conn:
        uid = conn.execute(
            sa.select(t.users.c.id).where(t.users.c.username == username)
        ).scalar_one()
        user = auth.load_user(conn, uid)
    assert user is not None
    return user


class _Writer:
    """Pushes demo documents as a given user, tracking revisions."""

    def __init__(self, state: HubState) -> None:
        self.state = state
        self.revs: dict[uuid.UUID, int] = {}
        self.fields: dict[uuid.UUID, dict] = {}

    def put(
        self,
        user: UserInfo,
        name: str,
        doc_type: DocType,
        fields: dict,
        patient: str | None = None,
        consultation: str | None = None,
    ) -> uuid.UUID:
        doc_id = _id(name)
        merged = {**self.fields.get(doc_id, {}), **fields}
        # The shared field schema keeps the seed honest: a field the client would not
        # understand (e.g. "pulse" for "heart_rate") fails here, not on a doctor's screen.
        validate_fields(doc_type, merged)
        change = Change(
            change_id=uuid.uuid4(),
            id=doc_id,
            type=doc_type,
            base_rev=self.revs.get(doc_id, 0),
            fields=merged,
            patient_id=_id(patient) if patient else None,
            consultation_id=_id(consultation) if consultation else None,
        )
        (result,) = records.push(self.state.db, user, [change], "127.0.0.1")
        if result.status == PushStatus.rejected:
            raise RuntimeError(f"demo seed: {name} rejected: {result.reason} {result.message}")
        self.revs[doc_id] = result.rev or 0
        self.fields[doc_id] = merged
        return doc_id


def _dicom(name: str, patient: dict | None = None) -> bytes:
    """A pydicom sample file, relabelled for the demo patient it is attached to.

    The samples carry made-up names of their own; showing "CompressedSamples^CT1" on 王秀英's
    CT would teach users to ignore a name mismatch, so the demo copy carries her identity.
    """
    import io

    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        raise RuntimeError(f"pydicom test file {name} not found")
    if patient is None:
        return Path(path).read_bytes()
    ds = pydicom.dcmread(path)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = patient["name"]
    ds.PatientID = patient["patient_number"]
    ds.PatientSex = patient["sex"]
    ds.PatientBirthDate = patient["birth_date"].replace("-", "")
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def seed_demo(state: HubState) -> bool:
    """Create the demo network unless it exists. Returns True when it seeded."""
    with state.db.read() as conn:
        if conn.execute(sa.select(t.facilities.c.id).where(t.facilities.c.id == CLINIC_ID)).first():
            return False
    db = state.db
    accounts.add_facility(db, CLINIC_ID, "青山镇卫生院", "township_clinic")
    accounts.add_facility(db, COUNTY_ID, "东川县人民医院", "county_hospital")
    accounts.add_facility(db, PROVINCE_ID, "云岭省远程医学中心", "provincial_center")
    shared_hash = auth.hash_password(DEMO_PASSWORD)  # one argon2 run, not five: faster first start
    for username, (display, role, facility, dept) in DEMO_USERS.items():
        accounts.add_user(
            db, username, display, role, facility, DEMO_PASSWORD, dept, password_hash=shared_hash
        )
    doctor, radiologist, cardiologist = (
        _user(state, "doctor"),
        _user(state, "specialist"),
        _user(state, "specialist2"),
    )
    w = _Writer(state)

    def attach(
        user: UserInfo,
        name: str,
        patient: str,
        cons: str,
        files: list[tuple[str, str, str]],
        title: str,
    ) -> None:
        entries = []
        for filename, kind, media in files:
            data = _dicom(filename, patients[patient])
            sha = blobs.ingest_bytes(state, user, data, media)
            entries.append(
                {
                    "sha256": sha,
                    "name": filename,
                    "media_type": media,
                    "size": len(data),
                    "kind": kind,
                }
            )
        w.put(
            user,
            name,
            DocType.attachment,
            {"kind": files[0][1], "title": title, "blobs": entries},
            patient,
            cons,
        )

    patients = {
        "p-wang": {
            "name": "王秀英",
            "patient_number": "QS20260012",
            "sex": "F",
            "birth_date": "1956-03-14",
            "phone": "138****2261",
            "address": "青山镇石门村",
            "id_card": "5329**********1228",
        },
        "p-li": {
            "name": "李建国",
            "patient_number": "QS20260027",
            "sex": "M",
            "birth_date": "1962-11-02",
            "phone": "139****7710",
            "address": "青山镇柳树湾村",
            "id_card": "5329**********0415",
        },
        "p-zhang": {
            "name": "张桂兰",
            "patient_number": "QS20260031",
            "sex": "F",
            "birth_date": "1948-07-21",
            "phone": "",
            "address": "青山镇上寨村",
            "id_card": "5329**********2046",
        },
        "p-liu": {
            "name": "刘强",
            "patient_number": "QS20260044",
            "sex": "M",
            "birth_date": "1985-01-30",
            "phone": "151****0932",
            "address": "青山镇新街",
            "id_card": "5329**********3317",
        },
    }
    for key, fields in patients.items():
        w.put(doctor, key, DocType.patient, fields)

    # 王秀英: chest CT waiting for the radiologist.
    w.put(
        doctor,
        "c-wang",
        DocType.consultation,
        {
            "status": "submitted",
            "reason": "咳嗽两月，胸部CT见右肺结节，请放射科会诊",
            "target_facility_id": COUNTY_ID,
            "department": "放射科",
            "specialist_id": radiologist.id,
            "urgency": "routine",
        },
        "p-wang",
    )
    attach(
        doctor,
        "a-wang-ct",
        "p-wang",
        "c-wang",
        [("CT_small.dcm", "dicom", "application/dicom")],
        "胸部CT",
    )
    w.put(
        doctor,
        "v-wang",
        DocType.vitals,
        {"bp_systolic": 142, "bp_diastolic": 88, "heart_rate": 78, "temperature": 36.7, "spo2": 96},
        "p-wang",
        "c-wang",
    )
    w.put(
        doctor,
        "n-wang",
        DocType.note,
        {"text": "吸烟史30年，已戒5年。无发热。"},
        "p-wang",
        "c-wang",
    )

    # 李建国: chest pain, ECG; call scheduled with the cardiologist.
    w.put(
        doctor,
        "c-li",
        DocType.consultation,
        {
            "status": "submitted",
            "reason": "活动后胸闷一周，心电图请心内科会诊",
            "target_facility_id": COUNTY_ID,
            "department": "心内科",
            "specialist_id": cardiologist.id,
            "urgency": "urgent",
        },
        "p-li",
    )
    attach(
        doctor,
        "a-li-ecg",
        "p-li",
        "c-li",
        [("waveform_ecg.dcm", "ecg", "application/dicom")],
        "十二导联心电图",
    )
    w.put(
        doctor,
        "v-li",
        DocType.vitals,
        {"bp_systolic": 158, "bp_diastolic": 96, "heart_rate": 92, "spo2": 95},
        "p-li",
        "c-li",
    )
    w.put(cardiologist, "c-li", DocType.consultation, {"status": "accepted"}, "p-li")
    w.put(
        cardiologist,
        "c-li",
        DocType.consultation,
        {"status": "scheduled", "scheduled_at": "2026-11-24T09:30:00+08:00"},
        "p-li",
    )

    # 张桂兰: MR reviewed, report written.
    w.put(
        doctor,
        "c-zhang",
        DocType.consultation,
        {
            "status": "submitted",
            "reason": "头晕伴左侧肢体乏力，头颅MR请会诊",
            "target_facility_id": COUNTY_ID,
            "department": "放射科",
            "specialist_id": radiologist.id,
            "urgency": "urgent",
        },
        "p-zhang",
    )
    attach(
        doctor,
        "a-zhang-mr",
        "p-zhang",
        "c-zhang",
        [("MR_small.dcm", "dicom", "application/dicom")],
        "头颅MR",
    )
    for status in ("accepted", "scheduled", "in_call", "reported"):
        w.put(radiologist, "c-zhang", DocType.consultation, {"status": status}, "p-zhang")
    w.put(
        radiologist,
        "r-zhang",
        DocType.report,
        {
            "text": "右侧基底节区小片状异常信号。",
            "conclusion": "考虑腔隙性脑梗死，建议转诊神经内科。",
            "signed": True,
            "signed_by": radiologist.display_name,
        },
        "p-zhang",
        "c-zhang",
    )

    # 刘强: a draft the clinic has not sent yet.
    w.put(
        doctor,
        "c-liu",
        DocType.consultation,
        {
            "status": "draft",
            "reason": "腰痛三周",
            "target_facility_id": COUNTY_ID,
            "department": "放射科",
        },
        "p-liu",
    )
    return True
