"""The patient and purpose a call is about, from real local records (SQLCipher cache)."""

from __future__ import annotations

from pathlib import Path

from app.sync.call_subject import call_subject, consultation_purpose


def _store(tmp_path: Path):  # noqa: ANN202
    from app.sync.cache import open_cache
    from app.sync.store import RecordStore

    return RecordStore(open_cache(tmp_path / "cache.db", b"k" * 32), user_id="u1")


def test_purpose_comes_from_the_purpose_field_or_else_the_reason() -> None:
    assert consultation_purpose({"purpose": "明确诊断", "reason": "胸闷"}) == "明确诊断"
    assert consultation_purpose({"reason": "胸闷一周"}) == "胸闷一周"
    assert consultation_purpose({"purpose": "  ", "reason": ""}) == ""


def test_subject_reads_patient_and_consultation_from_the_local_store(tmp_path: Path) -> None:
    from app.protocol.records import DocType

    store = _store(tmp_path)
    patient = store.create(
        DocType.patient, {"name": "李建国", "sex": "M", "birth_date": "1962-11-02"}
    )
    consultation = store.create(
        DocType.consultation, {"reason": "活动后胸闷一周，请心内科会诊"}, patient.id
    )
    subject = call_subject(store, consultation.id)
    assert subject is not None
    assert (subject.patient_name, subject.sex, subject.purpose) == (
        "李建国",
        "M",
        "活动后胸闷一周，请心内科会诊",
    )
    assert subject.age.isdigit() and int(subject.age) >= 60
    assert call_subject(store, "00000000-0000-0000-0000-000000000000") is None


def test_dialog_shows_the_patient_never_an_id(qtbot) -> None:
    from app.protocol.signaling import Incoming
    from app.sync.call_subject import CallSubject
    from app.ui.call.incoming import IncomingCallDialog

    consultation_id = "5f0c1a2b-1111-2222-3333-444455556666"
    incoming = Incoming.model_validate(
        {
            "type": "call.incoming",
            "call_id": "c1",
            "consultation_id": consultation_id,
            "caller": {"id": "u", "display_name": "王医生", "facility_name": "县医院"},
        }
    )
    dialog = IncomingCallDialog(incoming)
    qtbot.addWidget(dialog)
    texts = lambda: " ".join(w.text() for w in dialog.findChildren(type(dialog.patient)))  # noqa: E731
    assert consultation_id[:8] not in texts()
    dialog.set_subject(CallSubject(consultation_id, "李建国", "QS1", "M", "64", "胸闷，请会诊"))
    assert "李建国" in dialog.patient.text() and "64" in dialog.patient.text()
    assert "Male" in dialog.patient.text()
    assert "胸闷，请会诊" in dialog.purpose.text()
    dialog.set_subject(None)  # not synced here: said in words, still no id
    assert consultation_id[:8] not in texts() and dialog.patient.text()


def test_open_case_from_the_call_uses_the_main_windows_open_case(qtbot, settings) -> None:
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from app.context import AppContext
    from app.sync.call_subject import CallSubject
    from app.ui.pages.call import CallPage

    opened: list[str] = []

    class Host(QWidget):  # stands in for the main window of the workflow UI
        def open_case(self, consultation_id: str) -> None:
            opened.append(consultation_id)

    host = Host()
    qtbot.addWidget(host)
    page = CallPage(AppContext(settings=settings), host)
    QVBoxLayout(host).addWidget(page)
    widget = page.call_widget
    widget.set_subject(None, "")  # a test call: no patient, no case
    assert widget.open_case.isHidden()
    subject = CallSubject("c-1", "李建国", "QS1", "M", "64", "胸闷，请会诊")
    widget.set_subject(subject, "c-1")
    assert not widget.open_case.isHidden()
    assert "李建国" in widget.patient.text() and "胸闷" in widget.purpose.text()
    widget.open_case.click()
    assert opened == ["c-1"]
