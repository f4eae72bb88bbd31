"""Demo network for a first-time user: a township clinic, a county hospital, people,
Chinese-named patients, consultations in several states, and real DICOM from pydicom.

All records go through the same push logic clients use. Seeding is idempotent: it does
nothing when the demo clinic already exists.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from app.protocol import resident_id
from app.protocol.auth import UserInfo
from app.protocol.consultation import apply_action, participants_of, side_of
from app.protocol.records import sign_report, validate_fields
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
    "specialist3": ("孙建明", "specialist", PROVINCE_ID, "影像科"),
}
DEMO_TITLES = {"specialist": "主任医师", "specialist2": "副主任医师", "specialist3": "主任医师"}
"""Professional titles (职称) shown in the directory and on signed reports."""
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
        # Stored normalised, as a client stores them.
        merged = validate_fields(doc_type, merged)
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
            db,
            username,
            display,
            role,
            facility,
            DEMO_PASSWORD,
            dept,
            password_hash=shared_hash,
            title=DEMO_TITLES.get(username, ""),
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
        import io

        import pydicom

        entries = []
        series: dict[str, dict] = {}  # the manifest clients write (app.sync.attachments)
        study_uid = ""
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
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
            study_uid = study_uid or str(ds.get("StudyInstanceUID", ""))
            uid = str(ds.get("SeriesInstanceUID", ""))
            series.setdefault(
                uid, {"series_uid": uid, "modality": str(ds.get("Modality", "")), "instances": []}
            )["instances"].append(
                {
                    "sop_uid": str(ds.get("SOPInstanceUID", "")),
                    "number": int(ds.get("InstanceNumber", 0) or 0),
                    "sha256": sha,
                }
            )
        fields = {"kind": files[0][1], "name": files[0][0], "title": title, "blobs": entries}
        if series:
            fields |= {"study_uid": study_uid, "series": list(series.values())}
        w.put(user, name, DocType.attachment, fields, patient, cons)

    def consent(user: UserInfo, signer_name: str, given_by: str = "patient") -> dict:
        scan = _consent_scan()
        sha = blobs.ingest_bytes(state, user, scan, "image/png")
        return {
            "given_by": given_by,
            "signer_name": signer_name,
            "relation": "" if given_by == "patient" else "女儿",
            "signed_at": "2026-11-20T09:10:00+08:00",
            "scan": {
                "sha256": sha,
                "name": "知情同意书.png",
                "media_type": "image/png",
                "size": len(scan),
                "kind": "consent",
            },
        }

    def act(user: UserInfo, name: str, patient: str, action: str, **params: str) -> None:
        doc_id = _id(name)
        fields = w.fields[doc_id]
        side = side_of(user, participants_of(fields, CLINIC_ID))
        new = apply_action(
            fields, action, side, user.id, user.display_name, now=_DEMO_TIME, **params
        )
        w.put(user, name, DocType.consultation, new, patient)

    patients = {
        "p-wang": {
            "name": "王秀英",
            "patient_number": "QS20260012",
            "sex": "F",
            "birth_date": "1956-03-14",
            "phone": "138****2261",
            "address": "青山镇石门村",
            "id_card": resident_id.make("532901", date(1956, 3, 14), 122),
            "chronic_conditions": "高血压",
        },
        "p-li": {
            "name": "李建国",
            "patient_number": "QS20260027",
            "sex": "M",
            "birth_date": "1962-11-02",
            "phone": "139****7710",
            "address": "青山镇柳树湾村",
            "id_card": resident_id.make("532901", date(1962, 11, 2), 41),
            "chronic_conditions": "高血压，2型糖尿病",
        },
        "p-zhang": {
            "name": "张桂兰",
            "patient_number": "QS20260031",
            "sex": "F",
            "birth_date": "1948-07-21",
            "phone": "",
            "address": "青山镇上寨村",
            "id_card": resident_id.make("532901", date(1948, 7, 21), 204),
        },
        "p-liu": {
            "name": "刘强",
            "patient_number": "QS20260044",
            "sex": "M",
            "birth_date": "1985-01-30",
            "phone": "151****0932",
            "address": "青山镇新街",
            "id_card": resident_id.make("532901", date(1985, 1, 30), 331),
        },
    }
    for key, fields in patients.items():
        w.put(doctor, key, DocType.patient, fields)

    # 王秀英: chest CT waiting for the radiologist (imaging diagnosis, store-and-forward).
    w.put(
        doctor,
        "c-wang",
        DocType.consultation,
        {
            "status": "draft",
            "consultation_type": "imaging",
            "purpose": "明确右肺结节性质",
            "reason": "咳嗽两月，胸部CT见右肺结节，请放射科会诊",
            "chief_complaint": "咳嗽两月",
            "present_illness": "两月前无明显诱因出现咳嗽，少痰，无发热、咯血。",
            "past_history": "高血压10年；吸烟史30年，已戒5年。",
            "medication": "氨氯地平 5 mg 每日一次",
            "allergies": "青霉素过敏",
            "case_summary": "老年女性，咳嗽两月，胸部CT示右肺上叶结节。",
            "exam_results": "胸部CT：右肺上叶约8 mm结节。",
            "diagnosis_name": "肺结节",
            "diagnosis_code": "R91",
            "vitals": {"bp_systolic": 142, "bp_diastolic": 88, "heart_rate": 78, "spo2": 96},
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
    w.put(doctor, "c-wang", DocType.consultation, {"consent": consent(doctor, "王秀英")}, "p-wang")
    act(doctor, "c-wang", "p-wang", "submit")
    w.put(
        doctor,
        "v-wang",
        DocType.vitals,
        {
            "measured_at": "2026-11-20T08:40:00+08:00",
            "bp_systolic": 142,
            "bp_diastolic": 88,
            "heart_rate": 78,
            "temperature": 36.7,
            "spo2": 96,
            "source": "visit",
        },
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
            "status": "draft",
            "consultation_type": "video",
            "purpose": "评估胸闷原因，指导用药",
            "reason": "活动后胸闷一周，心电图请心内科会诊",
            "chief_complaint": "活动后胸闷一周",
            "case_summary": "中年男性，高血压、糖尿病史，活动后胸闷一周。",
            "exam_results": "心电图：窦性心律，V4-V6 ST段压低0.1 mV。",
            "diagnosis_name": "胸痛",
            "diagnosis_code": "R07.4",
            "target_facility_id": COUNTY_ID,
            "department": "心内科",
            "specialist_id": cardiologist.id,
            "urgency": "urgent",
            "consent": consent(doctor, "李建国"),
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
    act(doctor, "c-li", "p-li", "submit")
    w.put(
        doctor,
        "v-li",
        DocType.vitals,
        {"bp_systolic": 158, "bp_diastolic": 96, "heart_rate": 92, "spo2": 95, "source": "visit"},
        "p-li",
        "c-li",
    )
    act(cardiologist, "c-li", "p-li", "accept")
    act(cardiologist, "c-li", "p-li", "propose_time", time="2026-11-24T09:30:00+08:00")
    act(doctor, "c-li", "p-li", "confirm_time")

    # 张桂兰: MR reviewed, report signed.
    w.put(
        doctor,
        "c-zhang",
        DocType.consultation,
        {
            "status": "draft",
            "consultation_type": "video",
            "purpose": "明确头晕及肢体乏力原因",
            "reason": "头晕伴左侧肢体乏力，头颅MR请会诊",
            "chief_complaint": "头晕伴左侧肢体乏力3天",
            "diagnosis_name": "脑梗死？",
            "diagnosis_code": "I63.9",
            "target_facility_id": COUNTY_ID,
            "department": "放射科",
            "specialist_id": radiologist.id,
            "urgency": "urgent",
            "consent": consent(doctor, "李红", "relative"),
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
    act(doctor, "c-zhang", "p-zhang", "submit")
    act(radiologist, "c-zhang", "p-zhang", "accept")
    act(radiologist, "c-zhang", "p-zhang", "propose_time", time="2026-11-21T15:00:00+08:00")
    act(doctor, "c-zhang", "p-zhang", "confirm_time")
    act(radiologist, "c-zhang", "p-zhang", "start_call")
    w.put(
        radiologist,
        "r-zhang",
        DocType.report,
        sign_report(
            {
                "findings": "右侧基底节区小片状长T1长T2信号，DWI呈高信号。",
                "diagnosis_name": "腔隙性脑梗死",
                "diagnosis_code": "I63.8",
                "opinion": "考虑右侧基底节区腔隙性脑梗死（急性期）。建议抗血小板治疗，控制血压。",
                "follow_up": "两周后复诊，复查血压、血脂。",
                "referral": {
                    "kind": "refer_up",
                    "facility_id": COUNTY_ID,
                    "facility_name": "东川县人民医院",
                    "department": "神经内科",
                },
            },
            {
                "id": radiologist.id,
                "name": radiologist.display_name,
                "title": radiologist.title,
                "facility_id": radiologist.facility_id,
                "facility_name": radiologist.facility_name,
                "department": radiologist.department,
            },
            "2026-11-21T15:40:00+08:00",
        ),
        "p-zhang",
        "c-zhang",
    )
    act(radiologist, "c-zhang", "p-zhang", "report")

    # 刘强: a draft the clinic has not sent yet (the county hospital cannot see it).
    w.put(
        doctor,
        "c-liu",
        DocType.consultation,
        {
            "status": "draft",
            "consultation_type": "imaging",
            "reason": "腰痛三周",
            "target_facility_id": COUNTY_ID,
            "department": "放射科",
        },
        "p-liu",
    )
    return True


_DEMO_TIME = "2026-11-20T10:00:00+08:00"


def _consent_scan() -> bytes:
    """A small grey PNG standing in for the photographed consent form."""
    import struct
    import zlib

    width, height = 120, 160
    raw = b"".join(b"\x00" + bytes([235]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
