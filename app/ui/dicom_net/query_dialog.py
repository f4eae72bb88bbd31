"""Search the PACS (C-FIND or QIDO-RS) and retrieve studies into the inbox (C-MOVE to our
receiver, C-GET, or WADO-RS); with a case, retrieved studies are attached to it as priors."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.bridge import run_network
from app.ui.dicom_net.wording import net_error_text

MODALITIES = ("", "CT", "MR", "CR", "DX", "US", "MG", "XA", "NM", "PT", "RF", "OT")


class QueryDialog(QDialog):
    """Query/retrieve. ``on_retrieved(study_uid)`` runs after a study landed in the inbox."""

    def __init__(
        self,
        service: Any,
        patient_id: str = "",
        on_retrieved: Any = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.settings = service.context.settings
        self.on_retrieved = on_retrieved
        self.rows: list[dict[str, str]] = []
        self.setWindowTitle(self.tr("Search the PACS"))
        self.resize(860, 560)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.via = QComboBox()
        self.via.addItem(self.tr("DICOM (C-FIND)"), "dimse")
        self.via.addItem(self.tr("DICOMweb (QIDO-RS)"), "web")
        if not self.settings.get("dicomweb_url"):
            _disable_row(self.via, 1)
        form.addRow(self.tr("Search via"), self.via)
        self.patient_id = QLineEdit(patient_id)
        self.name = QLineEdit()
        self.name.setPlaceholderText(self.tr("start of the name; * and ? allowed"))
        dates = QWidget()
        row = QHBoxLayout(dates)
        row.setContentsMargins(0, 0, 0, 0)
        self.date_from = QLineEdit()
        self.date_to = QLineEdit()
        for edit in (self.date_from, self.date_to):
            edit.setPlaceholderText(self.tr("YYYYMMDD"))
            edit.setMaxLength(8)
        row.addWidget(self.date_from)
        row.addWidget(QLabel(self.tr("to")))
        row.addWidget(self.date_to)
        self.modality = QComboBox()
        for code in MODALITIES:
            self.modality.addItem(code or self.tr("Any"), code)
        form.addRow(self.tr("Patient ID"), self.patient_id)
        form.addRow(self.tr("Name"), self.name)
        form.addRow(self.tr("Study date"), dates)
        form.addRow(self.tr("Modality"), self.modality)
        layout.addLayout(form)
        self.search_button = QPushButton(self.tr("Search"))
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        layout.addWidget(self.search_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(
            [self.tr("Patient"), self.tr("Patient ID"), self.tr("Date"), self.tr("Modality"),
             self.tr("Description")]
        )  # fmt: skip
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, 1)
        self.series_label = QLabel("")
        self.series_label.setWordWrap(True)
        layout.addWidget(self.series_label)
        bottom = QHBoxLayout()
        self.method = QComboBox()
        self.method.addItem(self.tr("C-MOVE to this computer"), "move")
        self.method.addItem(self.tr("C-GET"), "get")
        self.method.addItem(self.tr("WADO-RS (DICOMweb)"), "wado")
        if not self.settings.get("dicomweb_url"):
            _disable_row(self.method, 2)
        self.retrieve_button = QPushButton(self.tr("Retrieve"))
        self.retrieve_button.setEnabled(False)
        self.retrieve_button.clicked.connect(self.retrieve)
        bottom.addWidget(QLabel(self.tr("Retrieve with")))
        bottom.addWidget(self.method)
        bottom.addWidget(self.retrieve_button)
        bottom.addStretch(1)
        layout.addLayout(bottom)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    # -- search -------------------------------------------------------------------------
    def _query(self) -> Any:
        from app.dicom_net.scu import Query

        lo, hi = self.date_from.text().strip(), self.date_to.text().strip()
        date = f"{lo}-{hi}" if (lo or hi) and lo != hi else lo
        return Query(
            patient_id=self.patient_id.text().strip(),
            patient_name=self.name.text().strip(),
            date=date,
            modality=str(self.modality.currentData() or ""),
        )

    def search(self) -> None:
        """Run the search on a worker."""
        query = self._query()
        self.search_button.setEnabled(False)
        self.message.setText(self.tr("Searching…"))
        run_network(_search, self.settings, self.via.currentData(), query,
                      on_done=self._show, on_error=self._failed)  # fmt: skip

    def _show(self, rows: list[dict[str, str]]) -> None:
        from app.dicom_viewer.index import display_name

        self.rows = rows
        self.search_button.setEnabled(True)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            values = (display_name(r.get("PatientName", "")), r.get("PatientID", ""),
                      r.get("StudyDate", ""), r.get("ModalitiesInStudy", ""),
                      r.get("StudyDescription", ""))  # fmt: skip
            for j, v in enumerate(values):
                self.table.setItem(i, j, QTableWidgetItem(v))
        self.message.setText(self.tr("{n} studies found.").format(n=len(rows)))

    def _failed(self, exc: BaseException) -> None:
        self.search_button.setEnabled(True)
        self.retrieve_button.setEnabled(bool(self._selected()))
        self.message.setText(net_error_text(exc))

    def _selected(self) -> dict[str, str] | None:
        rows = {i.row() for i in self.table.selectedItems()}
        return self.rows[min(rows)] if rows else None

    def _selection_changed(self) -> None:
        study = self._selected()
        self.retrieve_button.setEnabled(study is not None)
        self.series_label.setText("")
        if study is None:
            return
        uid = study.get("StudyInstanceUID", "")
        run_network(_series, self.settings, self.via.currentData(), uid,
                      on_done=self._show_series, on_error=lambda exc: None)  # fmt: skip

    def _show_series(self, series: list[dict[str, str]]) -> None:
        parts = [
            self.tr("{modality} series {number}: {n} images").format(
                modality=s.get("Modality", ""), number=s.get("SeriesNumber", ""),
                n=s.get("NumberOfSeriesRelatedInstances", "?"))
            for s in series
        ]  # fmt: skip
        self.series_label.setText("; ".join(parts))

    # -- retrieve -----------------------------------------------------------------------
    def retrieve(self) -> None:
        """Retrieve the selected study into the inbox (on a worker)."""
        study = self._selected()
        if study is None:
            return
        method = self.method.currentData()
        if method == "move" and self.service.state != "listening":
            self.message.setText(
                self.tr("C-MOVE needs this computer's DICOM receiver: turn receiving on first.")
            )
            return
        uid = study.get("StudyInstanceUID", "")
        self.retrieve_button.setEnabled(False)
        self.message.setText(self.tr("Retrieving…"))
        self.service.with_inbox(
            lambda inbox: run_network(
                _retrieve,
                self.settings,
                method,
                uid,
                inbox,
                on_done=lambda n: self._retrieved(uid, n),
                on_error=self._failed,
            )  # fmt: skip
        )

    def _retrieved(self, study_uid: str, count: int) -> None:
        self.retrieve_button.setEnabled(True)
        self.message.setText(self.tr("{n} images retrieved into the DICOM inbox.").format(n=count))
        self.service.inbox_changed.emit()
        if self.on_retrieved is not None:
            self.on_retrieved(study_uid)


def _pacs(settings: Any) -> Any:
    from app.dicom_net.nodes import NodeError, pacs_node

    node = pacs_node(settings)
    if node is None:
        raise NodeError("no PACS configured (dicom_pacs)")
    return node


def _web(settings: Any) -> Any:
    from app.dicom_net.dicomweb import DicomWeb
    from app.tls import trusting_session

    # The PACS's TLS is verified like the hub's: the policy's hospital CA (app/tls.py).
    return DicomWeb(
        str(settings.get("dicomweb_url")),
        session=trusting_session(str(settings.get("ca_bundle", "") or "")),
    )


def _search(settings: Any, via: str, query: Any) -> list[dict[str, str]]:
    if via == "web":
        return _web(settings).search_studies(query)
    from app.dicom_net.scu import find

    return find(_pacs(settings), query, "STUDY", str(settings.get("dicom_ae_title", "YIQIAO")))


def _series(settings: Any, via: str, study_uid: str) -> list[dict[str, str]]:
    if via == "web":
        return _web(settings).search_series(study_uid)
    from app.dicom_net.scu import Query, find

    return find(_pacs(settings), Query(study_uid=study_uid), "SERIES",
                str(settings.get("dicom_ae_title", "YIQIAO")))  # fmt: skip


def _retrieve(settings: Any, method: str, study_uid: str, inbox: Any) -> int:
    """Into the inbox; returns how many instances of the study the inbox now holds."""
    calling = str(settings.get("dicom_ae_title", "YIQIAO"))
    if method == "wado":
        _web(settings).retrieve_study(study_uid, lambda d: _keep(inbox, d, "WADO-RS"))
    elif method == "get":
        from app.dicom_net.scu import get

        get(_pacs(settings), study_uid, lambda d: _keep(inbox, d, "C-GET"), calling=calling)
    else:
        from app.dicom_net.scu import move

        move(_pacs(settings), calling, study_uid, calling=calling)
    return len(inbox.instances(study_uid))


def _keep(inbox: Any, data: bytes, source: str) -> None:
    inbox.add_instance(data, source)


def _disable_row(combo: QComboBox, row: int) -> None:
    """Grey out one choice of ``combo`` (a plain QComboBox keeps a QStandardItemModel)."""
    model = combo.model()
    item = model.item(row) if isinstance(model, QStandardItemModel) else None
    if item is not None:
        item.setEnabled(False)
