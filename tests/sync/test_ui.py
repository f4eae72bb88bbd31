"""Records and sync UI against the real hub: identity shown, writes work, conflicts resolve
field by field and the choice syncs, status words differ per failure."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from app.config import load_settings
from app.context import AppContext
from app.protocol.sync import DocType
from app.sync.session import SyncSession
from app.sync.status import SyncStatus
from tests.sync.hub_harness import make_client, sync_until_quiet


def _shot(widget, name: str, tmp_path: Path) -> None:
    """Screenshot into docs/img when YIQIAO_SCREENSHOTS=1 (else a temp dir): we look at it."""
    folder = (
        Path(__file__).resolve().parents[2] / "docs" / "img"
        if os.environ.get("YIQIAO_SCREENSHOTS")
        else tmp_path
    )
    assert widget.grab().save(str(folder / name))


def _context(client) -> AppContext:
    ctx = AppContext(settings=load_settings(registry={}))
    from types import SimpleNamespace

    # The signed-in clinic doctor the profile belongs to (their side decides what they see).
    ctx.user = SimpleNamespace(
        id=client.store.user_id,
        role="clinic_doctor",
        facility_id=client.store.facility_id,
        display_name="",
        department="",
    )
    ctx.services["sync"] = SyncSession("p", Path("."), client.store, client.blobs, client.engine)
    return ctx


def test_patients_page_shows_identity_and_registers_offline(qtbot, hub, tmp_path) -> None:
    from app.ui.pages.patients import PatientsPage

    client = make_client(tmp_path / "c", hub.url, "doc1")
    client.store.create(
        DocType.patient,
        {"name": "张桂兰", "patient_number": "QS-0042", "sex": "F", "birth_date": "1950-01-01"},
    )
    status_threads: list[threading.Thread] = []
    real_item_status = client.engine.item_status

    def recording_item_status(doc):  # noqa: ANN001, ANN202 - still the engine's real answer
        status_threads.append(threading.current_thread())
        return real_item_status(doc)

    client.engine.item_status = recording_item_status
    page = PatientsPage(_context(client))
    qtbot.addWidget(page)
    page.resize(1000, 500)
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=60000)
    row = [page.table.item(0, c).text() for c in range(5)]
    assert (
        row[0] == "张桂兰" and row[1] == "QS-0042" and row[2] == "Female" and row[3].endswith("y")
    )
    assert row[4] == "Waiting to sync"
    page.table.selectRow(0)
    assert "张桂兰 · ID QS-0042 · Female" in page.identity.text()
    page.note_edit.setText("血压偏高，建议复查")
    page.add_note()
    qtbot.waitUntil(lambda: page.records.count() == 1, timeout=60000)
    assert len(client.store.list(DocType.note)) == 1
    assert status_threads and threading.main_thread() not in status_threads, (
        "sync state off the GUI thread"
    )
    _shot(page, "sync-patients.png", tmp_path)
    client.close()


def test_conflict_resolved_field_by_field_and_choice_syncs(qtbot, hub, tmp_path) -> None:
    from app.ui.pages.consultations import ConsultationsPage
    from app.ui.sync.conflict_dialog import ConflictDialog

    a = make_client(tmp_path / "a", hub.url, "doc1")
    b = make_client(tmp_path / "b", hub.url, "doc2")
    p = a.store.create(
        DocType.patient,
        {"name": "李建国", "patient_number": "QS-7", "sex": "M", "birth_date": "1961-06-01"},
    )
    c = a.store.create(
        DocType.consultation,
        {"status": "draft", "reason": "胸闷", "department": "心内科"},
        patient_id=p.id,
    )
    sync_until_quiet(a)
    sync_until_quiet(b)
    a.store.update(c.id, {"reason": "胸闷三天，活动后加重", "department": "心内科"})
    b.store.update(c.id, {"reason": "胸闷，夜间阵发", "urgency": "urgent"})
    sync_until_quiet(a)
    sync_until_quiet(b)
    doc = b.store.get(c.id)
    assert doc.conflict is not None and "reason" in doc.conflict.fields
    values = {v.fields.get("reason") for v in doc.conflict.versions}
    assert {"胸闷三天，活动后加重", "胸闷，夜间阵发"} <= values  # both edits kept

    page = ConsultationsPage(_context(b))
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: c.id in page.visible_ids(), timeout=60000)
    row = page.visible_ids().index(c.id)
    assert page.table.item(row, 0).text() == "李建国" and page.table.item(row, 1).text() == "QS-7"
    assert page.table.item(row, 10).text() == "Conflict — needs your choice"
    names = b.hub.display_names()
    dialog = ConflictDialog(doc, "李建国 · ID QS-7", names=names)
    qtbot.addWidget(dialog)
    dialog.resize(900, 400)
    theirs = next(
        i for i, v in enumerate(dialog.versions) if v.fields.get("reason") == "胸闷三天，活动后加重"
    )
    headers = [
        dialog.table.horizontalHeaderItem(i).text() for i in range(dialog.table.columnCount())
    ]
    assert any("DOC1" in h for h in headers) and any("DOC2" in h for h in headers), headers
    assert not any(v.user_id in h for v in dialog.versions for h in headers), "names, not user ids"
    labels = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert (
        "Reason for consultation ⚠" in labels and "Department" in labels and "reason" not in labels
    )
    status_row = dialog.keys.index("status")
    assert dialog.table.cellWidget(status_row, 1).text() == "Draft"
    dialog.choose("reason", theirs)
    chosen = dialog.chosen_fields()
    assert chosen["reason"] == "胸闷三天，活动后加重"
    _shot(dialog, "sync-conflict.png", tmp_path)
    # From the page: the names come from the hub in a worker, then the dialog opens.
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    seen: list[list[str]] = []

    def answer_dialog() -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, ConflictDialog):
            seen.append(
                [
                    modal.table.horizontalHeaderItem(i).text()
                    for i in range(modal.table.columnCount())
                ]
            )
            QTimer.singleShot(0, modal.reject)
        else:
            QTimer.singleShot(50, answer_dialog)

    page.table.selectRow(row)
    QTimer.singleShot(50, answer_dialog)
    page.resolve()
    qtbot.waitUntil(lambda: bool(seen), timeout=60000)
    assert any("DOC1" in h for h in seen[0]) and any("DOC2" in h for h in seen[0])
    b.store.resolve_conflict(c.id, chosen)
    sync_until_quiet(b)
    sync_until_quiet(a)
    for client in (a, b):
        got = client.store.get(c.id)
        assert got.conflict is None and got.fields["reason"] == "胸闷三天，活动后加重"
    a.close()
    b.close()


def test_status_words_tell_failures_apart(qtbot) -> None:
    from app.ui.sync.status_widget import SyncStatusWidget

    widget = SyncStatusWidget()
    qtbot.addWidget(widget)
    texts = {}
    for state in ("offline", "login_refused", "tls_untrusted", "server_error", "idle"):
        texts[state], bad = widget.describe(SyncStatus(state=state))
        assert bad == (state != "idle")
    assert len(set(texts.values())) == 5
    syncing, _ = widget.describe(
        SyncStatus(
            state="syncing",
            docs_remaining=3,
            bytes_remaining=5 * 1024 * 1024,
            throughput_bps=30_000,
        )
    )
    assert "3" in syncing and "5.0 MB" in syncing and "29.3 KB/s" in syncing
