"""The Patients page as a clinic doctor uses it (offline): search by pinyin initials, a likely
duplicate offered before saving, a home meter's CSV imported (bad rows named by line, good
rows kept), the follow-up chart with out-of-range points, the history in words."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.protocol import resident_id
from app.protocol.sync import DocType
from tests.workflow.conftest import sign_in

DEADLINE_MS = 150_000  # a deadline only, past the 60 s periodic pull should a sync hint be lost; typically seconds
CSV = """\ufeff测量时间,收缩压(mmHg),舒张压(mmHg),心率,血糖
2026-11-01 08:00,150,92,78,6.9
2026-11-02 08:00,abc,90,80,
2026-11-03 08:00,128,82,72,5.4
,130,85,70,
"""


def test_search_duplicates_csv_chart_and_history(qtbot, tmp_path, workflow_hub):
    from app.ui.main_window import MainWindow
    from app.ui.workflow.patient_dialog import DuplicateDialog

    ctx, _user = sign_in(tmp_path / "c", workflow_hub.url, "clinic", start=False)
    store = ctx.services["sync"].store
    rid = resident_id.make("530102", date(1956, 3, 15), 124)
    p1 = store.create(DocType.patient, {"name": "张桂兰", "id_card": rid, "phone": "13800138000"})
    store.create(DocType.patient, {"name": "李建国", "patient_number": "QS-7"})
    win = MainWindow(ctx)
    qtbot.addWidget(win)
    win.resize(1300, 850)
    page = win.show_page("patients")
    qtbot.waitUntil(lambda: page.table.rowCount() == 2, timeout=DEADLINE_MS)
    page.search.setText("zgl")
    assert page.table.rowCount() == 1 and page.table.item(0, 0).text() == "张桂兰"
    page.search.setText("13800")
    assert page.table.rowCount() == 1

    # Registering her again: the existing patient is offered, and chosen.
    page.search.clear()
    dialog = page.new_patient()
    dialog.name.setText("张桂兰")
    dialog._changed("name", "张桂兰")
    dialog._changed("id_card", rid)

    def choose_existing() -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, DuplicateDialog):
            modal.done(DuplicateDialog.USE_EXISTING)
        else:
            QTimer.singleShot(20, choose_existing)

    QTimer.singleShot(20, choose_existing)
    dialog.try_save()
    assert dialog.chosen_existing == p1.id
    qtbot.waitUntil(
        lambda: page.selected() is not None and page.selected().id == p1.id, timeout=DEADLINE_MS
    )
    assert len(store.list(DocType.patient)) == 2, "no second record of the same person"

    # A home meter's CSV: two good rows, bad ones named by their line.
    csv_path = tmp_path / "meter.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    page.import_csv(str(csv_path))
    qtbot.waitUntil(lambda: "2" in page.import_result.text(), timeout=DEADLINE_MS)
    result = page.import_result.text()
    assert "line 3" in result and "line 5" in result and "line 2" not in result
    assert len(store.list(DocType.vitals, patient_id=p1.id)) == 2

    def bp_panel():  # noqa: ANN202
        return next((p for p in page.chart.panels if p.measure.key == "bp"), None)

    qtbot.waitUntil(
        lambda: bp_panel() is not None and len(bp_panel().lines[0].points) == 2,
        timeout=DEADLINE_MS,
    )
    bp = bp_panel()
    assert [pt.out_of_range for pt in bp.lines[0].points] == [True, False]

    def history() -> list[str]:
        return [page.records.item(i).text() for i in range(page.records.count())]

    # the record history refreshes on its own turn, after the chart (seen late at load)
    qtbot.waitUntil(lambda: any("150/92 mmHg" in h for h in history()), timeout=DEADLINE_MS)
    assert not any("bp_systolic" in h for h in history())
    page.tabs.setCurrentIndex(1)
    from tests.workflow.shots import shot

    shot(win, "workflow-followup-en.png", tmp_path)
    ctx.services["sync"].close()
