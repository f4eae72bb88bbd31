"""The workflow's screens with real data, in Chinese and in English: the specialist's
worklist, the case screen, the request form, the report — no English left in the Chinese UI
(the i18n walk over filled-in screens), and screenshots for the README
(YIQIAO_SCREENSHOTS=1 writes them to docs/img)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app.protocol.sync import DocType
from app.ui.i18n import install_translators
from tests.foundation.ui_text import shown_texts, untranslated
from tests.workflow.conftest import sign_in
from tests.workflow.shots import shot
from tests.workflow.test_refusals import _request

DEADLINE_MS = 150_000  # a deadline only, past the 60 s periodic pull should a sync hint be lost; typically seconds


@pytest.fixture(params=["zh_CN", "en"])
def language(request, qapp):
    install_translators(request.param)
    yield request.param
    install_translators("en")


def _synced(qtbot, *sessions) -> None:
    for s in sessions:
        qtbot.waitUntil(
            lambda s=s: s.engine.run_once() or s.store.outbox_size() == 0, timeout=DEADLINE_MS
        )


def test_worklist_case_and_report_screens(language, qtbot, tmp_path, workflow_hub):
    from app.consult.workflow import take_action
    from app.ui.main_window import MainWindow
    from app.ui.workflow.report_model import ReportForm
    from app.ui.workflow.request_model import attach
    from tests.support.ct_phantom import PhantomSpec, write_phantom

    zh = language == "zh_CN"
    suffix = "zh" if zh else "en"
    cctx, clinic_user = sign_in(tmp_path / "c", workflow_hub.url, "clinic", start=False)
    clinic = cctx.services["sync"]
    pid, cid = _request(clinic, clinic_user, tmp_path)
    clinic.store.update(
        cid,
        {
            "urgency": "urgent",
            "reason": "体检发现右肺结节",
            "chief_complaint": "咳嗽两周",
            "case_summary": "女，66岁，咳嗽两周，无发热，无咯血。",
            "vitals": {"bp_systolic": 150, "bp_diastolic": 92, "spo2": 96},
        },
    )
    write_phantom(tmp_path / "ct", PhantomSpec(size=64, slices=3))
    attach(clinic.store, clinic.blobs, [tmp_path / "ct"], pid, cid, "dicom")
    _synced(qtbot, clinic)

    rctx, rad_user = sign_in(tmp_path / "r", workflow_hub.url, "radiologist", start=False)
    rad = rctx.services["sync"]
    # The county hospital's IT points the specialist's YiQiao at its PACS.
    rctx.settings.set_user("dicom_pacs", "COUNTY_PACS@127.0.0.1:11112")
    _synced(qtbot, rad)
    win = MainWindow(rctx)
    qtbot.addWidget(win)
    win.resize(1280, 760)
    win.show()
    worklist = win.show_page("consultations")
    qtbot.waitUntil(lambda: cid in worklist.visible_ids(), timeout=DEADLINE_MS)
    # The hospital names come with the directory (a worker fetches it).
    qtbot.waitUntil(lambda: worklist.table.item(0, 7).text() == "青山镇卫生院", timeout=DEADLINE_MS)
    bad = untranslated(shown_texts(win)) if zh else []
    assert not bad, "\n".join(bad)
    shot(win, f"workflow-worklist-{suffix}.png", tmp_path)

    case = win.open_case(cid)
    qtbot.waitUntil(
        lambda: case.case is not None and bool(case.case.attachments), timeout=DEADLINE_MS
    )
    assert "赵春梅" in case.banner.text()
    qtbot.waitUntil(lambda: "青山镇卫生院" in case.summary.text(), timeout=DEADLINE_MS)
    bad = untranslated(shown_texts(case)) if zh else []
    assert not bad, "\n".join(bad)
    case.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: "accept" in case.action_buttons, timeout=DEADLINE_MS)
    assert case.action_buttons["accept"].isVisible()
    assert case.received_button.isHidden(), "studies are added by the clinic, not the specialist"
    assert case.priors_button.isVisible(), "the specialist pulls priors from the county PACS"
    shot(win, f"workflow-case-{suffix}.png", tmp_path)

    take_action(rad.store, cid, "accept", rad_user)
    form = ReportForm(cid, pid)
    form.set("findings", "右肺上叶见 8 mm 磨玻璃结节，边界清，未见胸腔积液。")
    form.set("diagnosis_name", "肺结节")
    form.set("diagnosis_code", "R91")
    form.set("opinion", "考虑良性可能性大，建议三个月后复查胸部 CT。")
    form.set("follow_up", "三个月后复查胸部 CT。")
    form.sign(rad.store, rad_user)
    take_action(rad.store, cid, "report", rad_user)
    _synced(qtbot, rad, clinic)

    cwin = MainWindow(cctx)
    qtbot.addWidget(cwin)
    cwin.resize(1280, 760)
    cwin.show()
    clinic_case = cwin.open_case(cid)
    qtbot.waitUntil(
        lambda: clinic_case.case is not None and clinic_case.pdf_button.isEnabled(),
        timeout=DEADLINE_MS,
    )
    qtbot.waitUntil(lambda: "东川县人民医院" in clinic_case.summary.text(), timeout=DEADLINE_MS)
    clinic_case.tabs.setCurrentIndex(3)
    bad = untranslated(shown_texts(clinic_case)) if zh else []
    assert not bad, "\n".join(bad)
    assert "磨玻璃结节" in clinic_case.report_view.toPlainText()
    assert not clinic_case.received_button.isHidden()
    assert clinic_case.priors_button.isHidden(), "no PACS is configured at the clinic"
    shot(cwin, f"workflow-report-{suffix}.png", tmp_path)
    assert len(clinic.store.list(DocType.report, consultation_id=cid)) == 1

    pdf = tmp_path / f"report-{suffix}.pdf"
    done: list[str] = []
    clinic_case.export_pdf(str(pdf), done.append)
    qtbot.waitUntil(
        lambda: (
            bool(done)
            or "Export" in clinic_case.message.text()
            or "导出" in clinic_case.message.text()
        ),
        timeout=DEADLINE_MS,
    )
    if done and shutil.which("pdftoppm"):
        out = tmp_path / "page"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(pdf), str(out)], check=True
        )
        page = next(tmp_path.glob("page*.png"))
        target = Path(shot.__globals__["__file__"]).resolve().parents[2] / "docs" / "img"
        import os

        if os.environ.get("YIQIAO_SCREENSHOTS"):
            shutil.copy(page, target / f"workflow-report-pdf-{suffix}.png")
    clinic.close()
    rad.close()
