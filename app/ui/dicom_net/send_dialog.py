"""Send a study (or files) to the PACS: address, optional anonymisation, a row per instance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.bridge import call_on_gui, run_network
from app.ui.dicom_net.wording import net_error_text, status_words


class SendDialog(QDialog):
    """C-STORE ``items`` (``app.dicom_net.scu.Outgoing``) to a PACS, showing each result."""

    def __init__(
        self, settings: Any, items: list[Any], title: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.items = items
        self.results: list[Any] = []
        self.setWindowTitle(self.tr("Send to PACS"))
        self.resize(640, 420)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.addRow(self.tr("Study"), QLabel(title))
        self.pacs = QLineEdit(str(settings.get("dicom_pacs", "") or ""))
        self.pacs.setPlaceholderText(self.tr("AE_TITLE@host:port, e.g. PACS@10.1.2.3:104"))
        if settings.is_locked("dicom_pacs"):
            self.pacs.setEnabled(False)
            self.pacs.setToolTip(self.tr("Set by your IT department."))
        form.addRow(self.tr("PACS"), self.pacs)
        self.anonymize = QCheckBox(
            self.tr("Anonymise (remove patient identity; for teaching and second opinions)")
        )
        form.addRow("", self.anonymize)
        layout.addLayout(form)
        self.progress = QProgressBar()
        self.progress.setRange(0, max(1, len(items)))
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels([self.tr("Instance"), self.tr("Result")])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents
        )
        layout.addWidget(self.table, 1)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.send_button = QPushButton(self.tr("Send"))
        self.send_button.setDefault(True)
        buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.send_button.clicked.connect(self.send)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def send(self) -> None:
        """Send on a worker; each instance's result is added as it comes back."""
        from app.dicom_net.nodes import NodeError, parse_node
        from app.dicom_net.scu import send

        try:
            node = parse_node(self.pacs.text())
        except NodeError as exc:
            self.summary.setText(net_error_text(exc))
            return
        anonymizer = None
        if self.anonymize.isChecked():
            from app.dicom_viewer.anonymize import Anonymizer

            anonymizer = Anonymizer()
        self.send_button.setEnabled(False)
        self.table.setRowCount(0)
        self.summary.setText(self.tr("Sending…"))
        calling = str(self.settings.get("dicom_ae_title", "YIQIAO"))
        progress: Callable[[Any, int, int], None] = lambda r, done, total: call_on_gui(  # noqa: E731
            self._add_result, r, done
        )
        run_network(
            send,
            node,
            self.items,
            calling,
            anonymizer,
            progress,
            on_done=self._finished,
            on_error=self._failed,
        )

    def _add_result(self, result: Any, done: int) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(result.label))
        item = QTableWidgetItem(status_words(result.status))
        if not result.ok:
            item.setToolTip(result.message)
        self.table.setItem(row, 1, item)
        self.progress.setValue(done)

    def _finished(self, results: list[Any]) -> None:
        self.results = results
        failed = sum(1 for r in results if not r.ok)
        self.summary.setText(
            self.tr("{ok} of {n} instances stored by the PACS.").format(
                ok=len(results) - failed, n=len(results)
            )
            + (" " + self.tr("{n} failed: see the list.").format(n=failed) if failed else "")
        )
        self.send_button.setEnabled(True)

    def _failed(self, exc: BaseException) -> None:
        self.summary.setText(net_error_text(exc))
        self.send_button.setEnabled(True)
