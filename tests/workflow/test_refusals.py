"""What must be refused, with a clear sentence and nothing changed — on this client (the same
table/schema) and at the hub (a forged change pushed past the client's checks):

a resident ID with a wrong check digit; submitting without consent; the clinic accepting its
own request; a specialist of another hospital changing the clinic's patient; any edit of a
signed report (a correction is an amendment, and both versions stay).
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest

from app.protocol import resident_id
from app.protocol.consultation import TransitionRefused
from app.protocol.records import RecordInvalid
from app.protocol.sync import Change, DocType, PushStatus
from app.ui.i18n import install_translators
from tests.workflow.conftest import sign_in

DEADLINE_MS = 150_000  # a deadline only, past the 60 s periodic pull should a sync hint be lost; typically seconds


@pytest.fixture
def chinese(qapp):
    install_translators("zh_CN")
    yield
    install_translators("en")


def _photo(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (16, 16), (10, 20, 30)).save(path, "JPEG")
    return path


def _request(clinic, user, tmp_path: Path, consent: bool = True) -> tuple[str, str]:
    """A registered patient and a complete imaging request to the county's radiology."""
    from app.consult.workflow import take_action
    from app.sync.attachments import attach_files

    store = clinic.store
    p = store.create(
        DocType.patient,
        {
            "name": "赵春梅",
            "id_card": resident_id.make("530102", date(1960, 5, 1), 22),
            "birth_date": "1960-05-01",
            "sex": "F",
            "patient_number": "QS-0107",
        },
    )
    c = store.create(
        DocType.consultation,
        {
            "status": "draft",
            "consultation_type": "imaging",
            "target_facility_id": "county",
            "department": "放射科",
            "purpose": "明确诊断",
        },
        patient_id=p.id,
    )
    if consent:
        scan = attach_files(
            store, clinic.blobs, [_photo(tmp_path / "c.jpg")], p.id, c.id, kind="consent"
        )
        store.update(
            c.id,
            {
                "consent": {
                    "given_by": "patient",
                    "signer_name": "赵春梅",
                    "signed_at": "2026-11-29T10:00:00",
                    "scan": scan.fields["blobs"][0],
                }
            },
        )
        take_action(store, c.id, "submit", user)
    return p.id, c.id


def _hub_doc(session, doc_id: str):
    """The hub's current version of a document, as this user's device pulls it."""
    return next(
        (d for d in session.engine.client.pull(0, 1000).changes if str(d.id) == doc_id), None
    )


def _forge(session, doc, fields: dict) -> object:
    """Push a change straight to the hub, past every check of this client."""
    change = Change(
        change_id=uuid.uuid4(),
        id=uuid.UUID(doc.id),
        type=doc.type,
        base_rev=doc.rev,
        fields={**doc.fields, **fields},
        facility_id=doc.facility_id,
        patient_id=uuid.UUID(doc.patient_id) if doc.patient_id else None,
        consultation_id=uuid.UUID(doc.consultation_id) if doc.consultation_id else None,
    )
    return session.engine.client.push([change]).results[0]


def test_wrong_check_digit_is_refused_in_words(chinese, tmp_path, workflow_hub):
    from app.ui.workflow.registry_model import PatientForm
    from app.ui.workflow.wording import problems_text

    ctx, _user = sign_in(tmp_path / "c", workflow_hub.url, "clinic", start=False)
    store = ctx.services["sync"].store
    good = resident_id.make("530102", date(1956, 3, 15), 124)
    wrong = good[:-1] + ("1" if good[-1] != "1" else "2")
    form = PatientForm()
    form.set("name", "王秀英")
    form.set("id_card", wrong)
    assert [p.code for p in form.problems()] == ["id_card_checksum"]
    with pytest.raises(RecordInvalid) as refused:
        store.create(DocType.patient, form.fields())
    text = problems_text(refused.value)
    assert "居民身份证号" in text and "校验位" in text and "id_card" not in text
    assert store.list(DocType.patient) == []
    ctx.services["sync"].close()


def test_submit_without_consent_is_refused_here_and_at_the_hub(
    chinese, qtbot, tmp_path, workflow_hub
):
    from app.consult.workflow import take_action
    from app.ui.workflow.request_model import RequestForm
    from app.ui.workflow.wording import problems_text

    ctx, user = sign_in(tmp_path / "c", workflow_hub.url, "clinic", start=False)
    clinic = ctx.services["sync"]
    _pid, cid = _request(clinic, user, tmp_path, consent=False)
    form = RequestForm.from_draft(clinic.store.get(cid))
    assert [p.code for p in form.submit_problems()] == ["consent_required"]
    with pytest.raises(TransitionRefused) as refused:
        take_action(clinic.store, cid, "submit", user)
    assert "知情同意" in problems_text(refused.value)
    assert clinic.store.get(cid).fields["status"] == "draft"
    # At the hub: the draft goes up, then a forged submit without consent is rejected.
    clinic.engine.run_once()
    doc = clinic.store.get(cid)
    assert doc.rev > 0 and clinic.store.outbox_size() == 0
    result = _forge(clinic, doc, {"status": "submitted"})
    assert result.status == PushStatus.rejected
    assert _hub_doc(clinic, cid).fields["status"] == "draft"
    clinic.close()


def test_clinic_cannot_accept_its_own_request(chinese, qtbot, tmp_path, workflow_hub):
    from app.consult.workflow import take_action
    from app.ui.workflow.wording import problems_text, sync_error_text

    ctx, user = sign_in(tmp_path / "c", workflow_hub.url, "clinic", start=False)
    clinic = ctx.services["sync"]
    _pid, cid = _request(clinic, user, tmp_path)
    with pytest.raises(TransitionRefused) as refused:
        take_action(clinic.store, cid, "accept", user)
    assert refused.value.code == "forbidden"
    assert "另一方" in problems_text(refused.value)
    qtbot.waitUntil(
        lambda: clinic.engine.run_once() or clinic.store.outbox_size() == 0, timeout=DEADLINE_MS
    )
    doc = clinic.store.get(cid)
    assert doc.fields["status"] == "submitted" and doc.rev > 0
    result = _forge(clinic, doc, {"status": "accepted", "accepted_by": user.id})
    assert result.status == PushStatus.rejected and result.reason.value == "forbidden"
    assert sync_error_text(f"{result.reason.value}: {result.message}") != ""
    assert _hub_doc(clinic, cid).fields["status"] == "submitted"
    # The radiologist still sees it waiting for them.
    rctx, _r = sign_in(tmp_path / "r", workflow_hub.url, "radiologist", start=False)
    rad = rctx.services["sync"]
    rad.engine.run_once()
    assert rad.store.get(cid).fields["status"] == "submitted"
    clinic.close()
    rad.close()


def test_another_hospitals_specialist_cannot_change_the_clinics_patient(
    qtbot, tmp_path, workflow_hub
):
    ctx, user = sign_in(tmp_path / "c", workflow_hub.url, "clinic", start=False)
    clinic = ctx.services["sync"]
    pid, _cid = _request(clinic, user, tmp_path)
    qtbot.waitUntil(
        lambda: clinic.engine.run_once() or clinic.store.outbox_size() == 0, timeout=DEADLINE_MS
    )
    patient = clinic.store.get(pid)
    octx, _o = sign_in(tmp_path / "o", workflow_hub.url, "outsider", start=False)
    outsider = octx.services["sync"]
    outsider.engine.run_once()
    assert outsider.store.get(pid) is None, "another hospital does not even see the patient"
    result = _forge(outsider, patient, {"name": "改名", "phone": "000"})
    assert result.status == PushStatus.rejected
    assert result.reason.value in ("forbidden", "not_found")
    assert _hub_doc(clinic, pid).fields["name"] == "赵春梅"
    clinic.close()
    outsider.close()


def test_a_signed_report_cannot_be_edited_only_amended(chinese, qtbot, tmp_path, workflow_hub):
    from app.consult.workflow import take_action
    from app.ui.workflow.report_model import ReportForm, ReportSealed, edit_signed, verify
    from app.ui.workflow.wording import problems_text

    ctx, user = sign_in(tmp_path / "c", workflow_hub.url, "clinic", start=False)
    clinic = ctx.services["sync"]
    pid, cid = _request(clinic, user, tmp_path)
    qtbot.waitUntil(
        lambda: clinic.engine.run_once() or clinic.store.outbox_size() == 0, timeout=DEADLINE_MS
    )
    rctx, rad_user = sign_in(tmp_path / "r", workflow_hub.url, "radiologist", start=False)
    rad = rctx.services["sync"]
    rad.engine.run_once()
    take_action(rad.store, cid, "accept", rad_user)
    form = ReportForm(cid, pid)
    form.set("findings", "双肺纹理增多。")
    form.set("opinion", "建议随访。")
    signed = form.sign(rad.store, rad_user)
    assert signed.fields["signed"] and verify(signed)
    take_action(rad.store, cid, "report", rad_user)
    qtbot.waitUntil(
        lambda: rad.engine.run_once() or rad.store.outbox_size() == 0, timeout=DEADLINE_MS
    )
    # Refused on this client, in words …
    with pytest.raises(ReportSealed) as sealed:
        ReportForm.from_doc(rad.store.get(signed.id))
    assert "更正" in problems_text(sealed.value)
    with pytest.raises(ReportSealed):
        edit_signed(rad.store, rad.store.get(signed.id), {"opinion": "改了"})
    # … and at the hub, nothing changed.
    result = _forge(rad, rad.store.get(signed.id), {"opinion": "悄悄改了"})
    assert result.status == PushStatus.rejected and result.reason.value == "immutable"
    assert _hub_doc(rad, signed.id).fields["opinion"] == "建议随访。"
    # A correction is an amendment: a new version naming the old one and why; both kept.
    amendment = ReportForm.amendment_of(rad.store.get(signed.id), "补充：右肺下叶小结节")
    amendment.set("opinion", "建议三个月后复查CT。")
    v2 = amendment.sign(rad.store, rad_user)
    assert v2.fields["version"] == 2 and v2.fields["amends"] == signed.id
    qtbot.waitUntil(
        lambda: rad.engine.run_once() or rad.store.outbox_size() == 0, timeout=DEADLINE_MS
    )
    clinic.engine.run_once()
    reports = sorted(
        (r.fields["version"], r.fields["opinion"])
        for r in clinic.store.list(DocType.report, consultation_id=cid)
    )
    assert reports == [(1, "建议随访。"), (2, "建议三个月后复查CT。")]
    clinic.close()
    rad.close()
