"""The DICOM network page and status bar with a real receiver and DCMTK's storescu."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
from PySide6.QtWidgets import QMainWindow, QStackedWidget, QWidget

from app.config import load_settings
from app.context import AppContext
from app.protocol.sync import DocType
from app.sync.blobstore import BlobStore
from app.sync.cache import open_cache
from app.sync.store import RecordStore
from tests.dicom_net.conftest import free_port, need
from tests.foundation.test_i18n import chinese  # noqa: F401 - fixture
from tests.foundation.ui_text import shown_texts, untranslated
from tests.support.ct_phantom import PhantomSpec, write_phantom


def _context(policy_file: Path, tmp_path: Path, enabled: bool = True) -> AppContext:
    policy_file.write_text(
        f"dicom_receive_enabled = {str(enabled).lower()}\n"
        f"dicom_port = {free_port()}\n"
        "dicom_bind_address = '127.0.0.1'\n"
        "dicom_ae_title = 'CLINIC_PC'\n",
        "utf-8",
    )
    context = AppContext(settings=load_settings(registry={}))
    context.data_dir = tmp_path / "data"
    cache = open_cache(tmp_path / "cache.db", b"k" * 32)
    context.services["sync"] = SimpleNamespace(
        profile="doctor-1",
        store=RecordStore(cache, "u1", "f1"),
        blobs=BlobStore(tmp_path / "blobs", b"b" * 32, cache, 1 << 30),
    )
    return context


class _Host(QMainWindow):
    """The main window's page contract (``page``/``show_page``) around the real DICOM network
    and viewer pages."""

    def __init__(self) -> None:
        super().__init__()
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.pages: dict[str, QWidget] = {}

    def add_pages(self, context: AppContext) -> None:
        """After the DICOM service is installed (as the app does)."""
        from app.ui.pages.dicom_network import DicomNetworkPage
        from app.ui.pages.viewer import ViewerPage

        self.pages = {"viewer": ViewerPage(context), "dicom_network": DicomNetworkPage(context)}
        for page in self.pages.values():
            self.stack.addWidget(page)

    def page(self, name: str) -> QWidget:
        return self.pages[name]

    def show_page(self, name: str) -> QWidget:
        self.stack.setCurrentWidget(self.pages[name])
        return self.pages[name]


def _storescu(port: int, files: list[Path], aet: str = "CT_ROOM") -> None:
    subprocess.run(
        ["storescu", "-aet", aet, "-aec", "CLINIC_PC", "127.0.0.1", str(port), *map(str, files)],
        check=True,
        timeout=300,
    )


def test_a_study_arrives_is_shown_matched_and_attached(
    qtbot, policy_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("storescu")
    from app.ui.dicom_net.service import install_dicom_net
    from app.ui.pages.dicom_network import PickDialog

    context = _context(policy_file, tmp_path)
    session = context.services["sync"]
    wang = session.store.create(
        DocType.patient,
        {"name": "王秀英", "patient_number": "PH-UI", "sex": "F", "birth_date": "1958-03-02"},
    )
    li = session.store.create(DocType.patient, {"name": "李四", "patient_number": "PH-9"})
    consult = session.store.create(DocType.consultation, {"reason": "咳嗽"}, patient_id=li.id)
    window = _Host()
    qtbot.addWidget(window)
    service = install_dicom_net(context, window)
    window.add_pages(context)
    page = window.show_page("dicom_network")
    qtbot.waitUntil(lambda: service.state == "listening", timeout=60_000)
    assert "CLINIC_PC" in page.state_label.text() and str(service.port) in page.state_label.text()

    known = write_phantom(tmp_path / "a", PhantomSpec(size=32, slices=30, patient_id="PH-UI"))
    _storescu(service.port, known)
    label = window.statusBar().findChild(object, "dicomReceiveStatus")
    qtbot.waitUntil(lambda: "last: 30 images from CT_ROOM" in label.text(), timeout=60_000)
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=60_000)
    qtbot.waitUntil(lambda: page.table.item(0, 6).text() == "王秀英", timeout=60_000)
    assert page.table.item(0, 4).text() == "30"
    assert "PH-UI" in page.table.item(0, 1).text()

    # Open in the viewer: the received series, under the registry patient's banner, read from
    # the encrypted inbox with the pixels the modality sent.
    page.table.selectRow(0)
    page.open_in_viewer()
    viewer_page = window.page("viewer")

    def shown() -> list:
        series = viewer_page.viewer.library.all_series()
        return series if window.stack.currentWidget() is viewer_page else []

    qtbot.waitUntil(lambda: len(shown()) == 1 and len(shown()[0][2].frames) == 30,
                    timeout=60_000)  # fmt: skip
    qtbot.waitUntil(lambda: viewer_page.viewer.active.series is not None, timeout=60_000)
    assert "王秀英" in viewer_page.banner.text() and "PH-UI" in viewer_page.banner.text()
    assert not viewer_page.banner.isHidden()
    sent = {str(ds.SOPInstanceUID): ds for ds in map(pydicom.dcmread, known)}
    for ref in shown()[0][2].frames:
        got = pydicom.dcmread(io.BytesIO(ref.instance.opener()))
        assert (got.pixel_array == sent.pop(got.SOPInstanceUID).pixel_array).all()
    assert not sent
    window.show_page("dicom_network")

    stranger = write_phantom(
        tmp_path / "b", PhantomSpec(size=32, slices=2, patient_id="EXT-1", patient_name="Li^Si")
    )
    _storescu(service.port, stranger)
    qtbot.waitUntil(lambda: page.table.rowCount() == 2, timeout=60_000)
    page.unmatched_only.setChecked(True)
    assert page.table.rowCount() == 1 and page.table.item(0, 6).text() == "Not matched"

    # One click: the dialog offers 李四 first (same name); accepting records the match.
    page.table.selectRow(0)
    monkeypatch.setattr(PickDialog, "exec", lambda self: 1)
    page.match()
    qtbot.waitUntil(lambda: page.table.rowCount() == 0, timeout=60_000)
    page.unmatched_only.setChecked(False)
    study_uid = str(pydicom.dcmread(stranger[0]).StudyInstanceUID)
    row = next(s for s in page.studies if s.study_uid == study_uid)
    assert row.matched_doc_id == li.id and wang.id != li.id

    page.attach_to(study_uid, li.id, consult.id, "received")

    def attached() -> bool:
        docs = session.store.list(DocType.attachment)
        return any(d.consultation_id == consult.id and d.fields.get("study_uid") == study_uid
                   for d in docs)  # fmt: skip

    qtbot.waitUntil(attached, timeout=60_000)
    service.shutdown()


def test_dicom_pages_and_dialogs_read_in_chinese(
    chinese,  # noqa: F811 - fixture
    qtbot,
    policy_file: Path,
    tmp_path: Path,
) -> None:
    from app.dicom_net.scu import Outgoing
    from app.ui.dicom_net.query_dialog import QueryDialog
    from app.ui.dicom_net.send_dialog import SendDialog
    from app.ui.dicom_net.service import install_dicom_net
    from app.ui.pages.dicom_network import DicomNetworkPage, PickDialog
    from app.ui.settings_dialog import SettingsDialog

    context = _context(policy_file, tmp_path, enabled=False)
    owner = QMainWindow()
    qtbot.addWidget(owner)
    service = install_dicom_net(context, owner)
    widgets = [
        DicomNetworkPage(context),
        SendDialog(context.settings, [Outgoing("x", bytes)], "PH-1 · CT"),
        QueryDialog(service),
        PickDialog("关联患者", "哪位患者？", [("王秀英", 1)]),
        SettingsDialog(context.settings),
    ]
    for w in widgets:
        qtbot.addWidget(w)
        bad = untranslated(shown_texts(w))
        assert not bad, "\n".join(bad)
    service.shutdown()


def test_case_hooks_attach_a_received_study_and_priors(
    qtbot, policy_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.dicom_net.inbox import Inbox
    from app.ui.dicom_net.case_hooks import attach_received_study, pull_priors
    from app.ui.dicom_net.query_dialog import QueryDialog
    from app.ui.dicom_net.service import install_dicom_net
    from app.ui.pages.dicom_network import PickDialog

    context = _context(policy_file, tmp_path, enabled=False)
    session = context.services["sync"]
    owner = QMainWindow()
    qtbot.addWidget(owner)
    service = install_dicom_net(context, owner)
    patient = session.store.create(DocType.patient, {"name": "王秀英", "patient_number": "PH-5"})
    consult = session.store.create(DocType.consultation, {"reason": "胸痛"}, patient_id=patient.id)
    inbox = Inbox.open(context.user_data_dir() / "dicom-inbox")
    uids = []
    for name, pid in (("new", "EXT-77"), ("old", "PH-5")):
        files = write_phantom(tmp_path / name, PhantomSpec(size=32, slices=2, patient_id=pid))
        for f in files:
            inbox.add_instance(f.read_bytes(), "CT_ROOM@10.0.0.2")
        uids.append(str(pydicom.dcmread(files[0]).StudyInstanceUID))
    service.inbox = inbox
    done: list[str] = []

    chosen: list[str] = []
    monkeypatch.setattr(PickDialog, "exec", lambda self: chosen.append(self.list.count()) or 1)
    attach_received_study(owner, context, session, patient.id, "王秀英", consult.id,
                          lambda: done.append("received"))  # fmt: skip
    qtbot.waitUntil(lambda: done == ["received"], timeout=60_000)
    assert chosen == [2]  # the patient's own study is offered with the unmatched one

    monkeypatch.setattr(QueryDialog, "exec", lambda self: self.on_retrieved(uids[1]) or 0)
    pull_priors(owner, context, session, patient.id, "王秀英", "PH-5", consult.id,
                lambda: done.append("prior"))  # fmt: skip
    qtbot.waitUntil(lambda: done == ["received", "prior"], timeout=60_000)
    docs = [d for d in session.store.list(DocType.attachment) if d.consultation_id == consult.id]
    assert sorted(d.fields["purpose"] for d in docs) == ["prior", "received"]
    assert {d.fields["study_uid"] for d in docs if d.fields["purpose"] == "prior"} == {uids[1]}
    assert inbox.study(uids[1], session.profile).matched_doc_id == patient.id
    service.shutdown()


def test_settings_changes_hand_the_port_over_to_a_new_receiver(
    qtbot, policy_file: Path, tmp_path: Path
) -> None:
    from app.ui.dicom_net.service import install_dicom_net

    context = _context(policy_file, tmp_path)
    window = QMainWindow()
    qtbot.addWidget(window)
    service = install_dicom_net(context, window)
    qtbot.waitUntil(lambda: service.state == "listening", timeout=60_000)
    port, first = service.port, service.receiver
    service.restart()  # two settings changes in a row: the old process must let go first
    service.restart()
    assert service.state == "stopping"
    qtbot.waitUntil(lambda: service.state in ("listening", "error"), timeout=60_000)
    assert service.state == "listening", service.error
    assert service.port == port and service.receiver is not first and not first.running
    service.shutdown()
