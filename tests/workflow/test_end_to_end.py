"""The consultation workflow end to end, as the two doctors would do it, through the real main
window of two client profiles against one real hub on loopback:

offline, the clinic registers a patient (a resident ID with a wrong check digit is refused in
words first) and writes an imaging request with a CT study, a photo and the consent scan
(submitting without consent is refused in words first) → online → the county radiologist sees
it in the worklist → opens the images in the viewer from the case (no decrypted file on disk)
→ accepts and proposes a time → the clinic confirms → the radiologist signs a report → the
clinic sees it, exports the PDF (pdftotext finds the Chinese name and the findings) and the
DICOM Encapsulated PDF (dcmdump reads it; the PDF inside is byte-identical).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from datetime import date
from pathlib import Path

import pytest
from pytestqt.exceptions import TimeoutError as WaitTimeout

from app.protocol import resident_id
from app.protocol.sync import DocType
from tests.workflow.conftest import sign_in

DEADLINE_MS = 150_000  # a deadline only, past the 60 s periodic pull should a sync hint be lost; typically ~1–3 s


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _photo(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 120, 90)).save(path, "JPEG")
    return path


def _plain_dicom_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and b"DICM" in p.read_bytes()]


def test_request_to_report_and_back(qtbot, workflow_hub, tmp_path, monkeypatch):
    from app.ui.main_window import MainWindow
    from app.ui.workflow.directory import load_directory
    from tests.support.ct_phantom import PhantomSpec, write_phantom

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    url = workflow_hub.url
    # The clinic signed in earlier (directory cached), and is offline now.
    clinic_ctx, clinic_user = sign_in(tmp_path / "clinic", url, "clinic", start=False)
    clinic = clinic_ctx.services["sync"]
    assert load_directory(clinic).departments("county") == ["心内科", "放射科"]
    clinic.engine.client.base_url = _closed_port_url()
    clinic.engine.start()
    win = MainWindow(clinic_ctx)
    qtbot.addWidget(win)
    win.resize(1300, 900)
    from app.ui.workflow.notifier import install_notifications

    clinic_notes = install_notifications(clinic_ctx, win)
    clinic_notes.check()  # a fresh profile: takes note of what exists (nothing is news yet)

    # -- register the patient: a wrong check digit is refused in words -------------------
    patients = win.show_page("patients")
    rid = resident_id.make("530102", date(1956, 3, 15), 124)
    wrong = rid[:-1] + ("1" if rid[-1] != "1" else "2")
    dialog = patients.new_patient()
    dialog.name.setText("王秀英")
    dialog._changed("name", "王秀英")
    dialog.id_card.setText(wrong)
    dialog._changed("id_card", wrong)
    dialog.phone.setText("13800138000")
    dialog._changed("phone", "13800138000")
    dialog.try_save()
    assert dialog.isVisible(), "a wrong check digit is not saved"
    assert "Resident ID number" in dialog.problems.text()
    assert "check character" in dialog.problems.text()
    assert clinic.store.list(DocType.patient) == []
    dialog.id_card.setText(rid)
    dialog._changed("id_card", rid)
    assert dialog.birth.text() == "1956-03-15" and dialog.sex.currentData() == "F"
    dialog.try_save()
    qtbot.waitUntil(lambda: len(clinic.store.list(DocType.patient)) == 1, timeout=DEADLINE_MS)
    patient = clinic.store.list(DocType.patient)[0]
    assert patient.fields["id_card"] == rid and patient.fields["birth_date"] == "1956-03-15"

    # -- the request: imaging diagnosis for the county's radiology -----------------------
    consultations = win.show_page("consultations")
    win.new_request(patient.id)
    qtbot.waitUntil(lambda: consultations.form_widget is not None, timeout=DEADLINE_MS)
    form = consultations.form_widget
    form.kind.setCurrentIndex(form.kind.findData("imaging"))
    form.hospital.setCurrentIndex(form.hospital.findData("county"))
    form.department.setCurrentIndex(form.department.findData("放射科"))
    radiologist_id = next(
        p["id"]
        for p in consultations.directory.specialists("county", "放射科")
        if p["display_name"] == "赵影像"
    )
    form.specialist.setCurrentIndex(form.specialist.findData(radiologist_id))
    form.urgency.setCurrentIndex(form.urgency.findData("urgent"))
    form.texts["purpose"].setPlainText("明确肺部结节性质")
    form.texts["reason"].setPlainText("体检发现右肺结节，本院无法判断")
    form.texts["chief_complaint"].setPlainText("咳嗽两周")
    form.texts["case_summary"].setPlainText("女，70岁，咳嗽两周，无发热。")
    form.vitals["bp_systolic"].setText("150")
    form._vital("bp_systolic", "150")
    form.vitals["bp_diastolic"].setText("92")
    form._vital("bp_diastolic", "92")
    # Drafts save as you type.
    qtbot.waitUntil(lambda: form.form.consultation_id is not None, timeout=DEADLINE_MS)
    cid = form.form.consultation_id
    qtbot.waitUntil(
        lambda: clinic.store.get(cid).fields.get("purpose") == "明确肺部结节性质",
        timeout=DEADLINE_MS,
    )
    study = write_phantom(tmp_path / "ct", PhantomSpec(size=64, slices=3))
    form.attach_paths([str(tmp_path / "ct")], "dicom")
    form.attach_paths([str(_photo(tmp_path / "皮疹.jpg"))], "photo")
    qtbot.waitUntil(
        lambda: len(clinic.store.list(DocType.attachment, consultation_id=cid)) == 2,
        timeout=DEADLINE_MS,
    )
    # Submitting without the consent is refused, in words.
    form.submit()
    assert "informed consent" in form.problems.text()
    assert clinic.store.get(cid).fields["status"] == "draft"
    form.given_by.setCurrentIndex(form.given_by.findData("relative"))
    form.signer.setText("张明")
    form._consent(signer_name="张明")
    form.relation.setText("儿子")
    form._consent(relation="儿子")
    form.attach_consent(str(_photo(tmp_path / "consent.jpg")))
    qtbot.waitUntil(lambda: "consent.jpg" in form.scan_label.text(), timeout=DEADLINE_MS)
    assert not form.show_problems(), form.problems.text()
    form.submit()
    qtbot.waitUntil(
        lambda: clinic.store.get(cid).fields["status"] == "submitted", timeout=DEADLINE_MS
    )
    kinds = sorted(
        a.fields["kind"] for a in clinic.store.list(DocType.attachment, consultation_id=cid)
    )
    assert kinds == ["consent", "dicom", "photo"]

    # -- online: the radiologist sees it in the worklist within seconds --------------------
    rad_ctx, rad_user = sign_in(tmp_path / "radiologist", url, "radiologist")
    rad = rad_ctx.services["sync"]
    rad_win = MainWindow(rad_ctx)
    qtbot.addWidget(rad_win)
    rad_win.resize(1300, 900)
    rad_notes = install_notifications(rad_ctx, rad_win)
    rad_notes.check()
    worklist = rad_win.show_page("consultations")
    clinic.engine.client.base_url = url
    clinic.engine.sync_now()
    qtbot.waitUntil(lambda: cid in worklist.visible_ids(), timeout=DEADLINE_MS)
    row = worklist.model.row(cid)
    assert row.actions == ["accept", "decline"] and row.patient["name"] == "王秀英"

    # -- the case: images open in the viewer from the encrypted store --------------------
    case = rad_win.open_case(cid)
    qtbot.waitUntil(lambda: case.case is not None, timeout=DEADLINE_MS)
    assert "王秀英" in case.banner.text()
    assert set(case.action_buttons) == {"accept", "decline"}
    case.open_images()
    viewer_page = rad_win.page("viewer")
    qtbot.waitUntil(
        lambda: sum(len(s.frames) for _p, _s, s in viewer_page.viewer.library.all_series()) == 3,
        timeout=DEADLINE_MS,
    )
    assert "王秀英" in viewer_page.banner.text()
    assert _plain_dicom_files(tmp_path / "radiologist") == []
    assert not list(scratch.iterdir()), "no decrypted copy in the temporary folder"
    (_p, _s, series) = viewer_page.viewer.library.all_series()[0]
    from app.dicom_viewer.loader import FrameSource

    assert FrameSource().get(series.frames[0]).shape == (64, 64)
    del study

    # -- accept, propose a time; the clinic confirms ------------------------------------
    rad_win.open_case(cid)
    case.act("accept")
    qtbot.waitUntil(lambda: rad.store.get(cid).fields["status"] == "accepted", timeout=DEADLINE_MS)
    case.act("propose_time", time="2026-12-01T09:30")
    qtbot.waitUntil(
        lambda: rad.store.get(cid).fields.get("proposed_time") == "2026-12-01T09:30",
        timeout=DEADLINE_MS,
    )
    clinic_case = win.open_case(cid)
    try:
        qtbot.waitUntil(
            lambda: clinic_case.case is not None and "confirm_time" in clinic_case.action_buttons,
            timeout=DEADLINE_MS,
        )
    except WaitTimeout:
        mine, theirs = rad.store.get(cid), clinic.store.get(cid)
        raise AssertionError(
            f"the clinic never saw the proposed time: radiologist's copy {mine.fields['status']}"
            f" (sync error: {mine.sync_error!r}), clinic's {theirs.fields['status']}"
            f" proposed {theirs.fields.get('proposed_time')!r}"
        ) from None
    assert "accept" not in clinic_case.action_buttons
    clinic_case.action_buttons["confirm_time"].click()
    qtbot.waitUntil(lambda: rad.store.get(cid).fields["status"] == "scheduled", timeout=DEADLINE_MS)

    # -- the radiologist writes and signs the report --------------------------------------
    qtbot.waitUntil(lambda: case.case.status == "scheduled", timeout=DEADLINE_MS)
    editor = case.write_report()
    editor.boxes["findings"].setPlainText("右肺上叶见8毫米磨玻璃结节，边界清。")
    editor.diagnosis.setText("肺结节")
    editor.form.set("diagnosis_name", "肺结节")
    editor.code.setText("R91")
    editor.form.set("diagnosis_code", "R91")
    editor.boxes["opinion"].setPlainText("建议三个月后复查胸部CT。")
    editor.sign(confirm=False)
    qtbot.waitUntil(lambda: rad.store.get(cid).fields["status"] == "reported", timeout=DEADLINE_MS)

    # -- the clinic sees the report and exports it ---------------------------------------
    qtbot.waitUntil(
        lambda: (
            clinic.store.get(cid).fields["status"] == "reported"
            and any(r.fields.get("signed") for r in clinic.store.list(DocType.report))
        ),
        timeout=DEADLINE_MS,
    )
    # Both were told, from the records: the clinic of each step, the radiologist of the time.
    qtbot.waitUntil(
        lambda: any("signed the report" in t for _c, t in clinic_notes.recent), timeout=DEADLINE_MS
    )
    told = [t for _c, t in clinic_notes.recent]
    assert any("赵影像 accepted the request" in t for t in told), told
    assert any("proposed a call" in t for t in told) and all(
        c == cid for c, _ in clinic_notes.recent
    )
    # The radiologist's notifier looks after its own changes settle (it signed meanwhile).
    try:
        qtbot.waitUntil(
            lambda: any("王秀英" in t and "confirmed the call" in t for _c, t in rad_notes.recent),
            timeout=DEADLINE_MS,
        )
    except WaitTimeout:
        history = [h.get("action") for h in rad.store.get(cid).fields.get("history", [])]
        raise AssertionError(f"not told: {rad_notes.recent}; timeline {history}") from None
    clinic_case = win.open_case(cid)
    qtbot.waitUntil(
        lambda: clinic_case.case is not None and clinic_case.pdf_button.isEnabled(),
        timeout=DEADLINE_MS,
    )
    assert "右肺上叶" in clinic_case.report_view.toPlainText()
    assert not clinic_case.write_button.isVisible() and not clinic_case.amend_button.isVisible()
    pdf = tmp_path / "report.pdf"
    dcm = tmp_path / "report.dcm"
    done: list[str] = []
    clinic_case.export_pdf(str(pdf), done.append)
    clinic_case.export_dicom_pdf(str(dcm), done.append)
    qtbot.waitUntil(lambda: len(done) == 2, timeout=DEADLINE_MS)
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "王秀英" in text and "磨玻璃结节" in text
    if shutil.which("dcmdump") is None:
        pytest.skip("dcmdump (DCMTK) not installed")
    dump = subprocess.run(["dcmdump", "-Un", str(dcm)], capture_output=True, text=True, check=True)
    assert "1.2.840.10008.5.1.4.1.1.104.1" in dump.stdout
    extracted = tmp_path / "extracted.pdf"
    subprocess.run(["dcm2pdf", str(dcm), str(extracted)], check=True, capture_output=True)
    import pydicom

    inner = bytes(pydicom.dcmread(dcm).EncapsulatedDocument)
    assert extracted.read_bytes().rstrip(b"\0") == inner.rstrip(b"\0")
    for ctx in (clinic_ctx, rad_ctx):
        ctx.services["sync"].close()
