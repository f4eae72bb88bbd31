"""Settings: fields locked by the machine policy are disabled and say why."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.config import Settings

log = logging.getLogger(__name__)


class SettingsDialog(QDialog):
    """Edit the user layer; policy-locked keys are shown read-only with their source."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle(self.tr("Settings"))
        self.editors: dict[str, QWidget] = {}
        self.lock_notes: dict[str, QLabel] = {}
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs)

        general = self._tab(self.tr("General"))
        self.language = QComboBox()
        for value, text in (
            ("system", self.tr("Follow the system")),
            ("zh_CN", "简体中文"),
            ("en", "English"),
        ):
            self.language.addItem(text, value)
        self._add(general, "language", self.tr("&Language:"), self.language)
        self.log_level = QComboBox()
        for value, text in (
            ("INFO", self.tr("Normal")),
            ("DEBUG", self.tr("Detailed (for IT)")),
            ("WARNING", self.tr("Warnings only")),
            ("ERROR", self.tr("Errors only")),
        ):
            self.log_level.addItem(text, value)
        self._add(general, "log_level", self.tr("Log &detail:"), self.log_level)
        self.self_update = QCheckBox(self.tr("Check for updates automatically"))
        self._add(general, "self_update_allowed", self.tr("Updates:"), self.self_update)

        network = self._tab(self.tr("Network"))
        self.hub_url = QLineEdit()
        self.hub_url.setPlaceholderText(self.tr("Empty: use the local demo hub"))
        self._add(network, "hub_url", self.tr("&Hub address:"), self.hub_url)
        self.ca_bundle = QLineEdit()
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(self._browse_ca)
        ca_row = QWidget()
        ca_layout = QHBoxLayout(ca_row)
        ca_layout.setContentsMargins(0, 0, 0, 0)
        ca_layout.addWidget(self.ca_bundle, 1)
        ca_layout.addWidget(browse)
        self._browse_button = browse
        self._add(network, "ca_bundle", self.tr("&CA certificate:"), ca_row, editor=self.ca_bundle)
        self.proxy = QLineEdit()
        self.proxy.setPlaceholderText(self.tr("system, none, or http://proxy:3128"))
        self._add(network, "proxy", self.tr("&Proxy:"), self.proxy)

        dicom = self._tab(self.tr("DICOM network"))
        self.dicom_receive = QCheckBox(self.tr("Receive images sent to this computer"))
        self._add(dicom, "dicom_receive_enabled", self.tr("Receiving:"), self.dicom_receive)
        self.dicom_ae = QLineEdit()
        self.dicom_ae.setMaxLength(16)
        self._add(dicom, "dicom_ae_title", self.tr("Our &AE title:"), self.dicom_ae)
        self.dicom_port = QSpinBox()
        self.dicom_port.setRange(1, 65535)
        self._add(dicom, "dicom_port", self.tr("Our p&ort:"), self.dicom_port)
        self.dicom_bind = QLineEdit()
        self._add(dicom, "dicom_bind_address", self.tr("Listen on address:"), self.dicom_bind)
        self.dicom_callers = QLineEdit()
        self.dicom_callers.setPlaceholderText(
            self.tr("Empty: anyone; else AE titles or IP addresses, comma-separated")
        )
        self._add(dicom, "dicom_allowed_callers", self.tr("Allowed senders:"), self.dicom_callers)
        self.dicom_pacs = QLineEdit()
        self.dicom_pacs.setPlaceholderText(self.tr("AE_TITLE@host:port, e.g. PACS@10.1.2.3:104"))
        self._add(dicom, "dicom_pacs", self.tr("&PACS:"), self.dicom_pacs)
        self.dicomweb_url = QLineEdit()
        self.dicomweb_url.setPlaceholderText(self.tr("e.g. https://pacs.example/dicom-web"))
        self._add(dicom, "dicomweb_url", self.tr("DICOM&web:"), self.dicomweb_url)

        devices = self._tab(self.tr("Camera and microphone"))
        self.camera = QComboBox()
        self.microphone = QComboBox()
        self.speaker = QComboBox()
        for combo in (self.camera, self.microphone, self.speaker):
            combo.addItem(self.tr("Default device"), "")
        self._add(devices, "camera_device", self.tr("C&amera:"), self.camera)
        self._add(devices, "microphone_device", self.tr("&Microphone:"), self.microphone)
        self._add(devices, "speaker_device", self.tr("&Speaker:"), self.speaker)
        self.audio_only = QCheckBox(self.tr("Start calls with audio only (saves bandwidth)"))
        self._add(devices, "audio_only", self.tr("Calls:"), self.audio_only)
        self.camera_allowed = QCheckBox(self.tr("Camera may be used"))
        self._add(devices, "camera_allowed", self.tr("Camera use:"), self.camera_allowed)
        self.microphone_allowed = QCheckBox(self.tr("Microphone may be used"))
        self._add(
            devices, "microphone_allowed", self.tr("Microphone use:"), self.microphone_allowed
        )

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._load()
        self._load_devices()

    # -- building ---------------------------------------------------------------------
    def _tab(self, title: str) -> QFormLayout:
        page = QWidget()
        form = QFormLayout(page)
        self.tabs.addTab(page, title)
        return form

    def _add(
        self,
        form: QFormLayout,
        key: str,
        label: str,
        widget: QWidget,
        editor: QWidget | None = None,
    ) -> None:
        form.addRow(label, widget)
        self.editors[key] = editor or widget
        if self.settings.is_locked(key):
            widget.setEnabled(False)
            note = QLabel(
                self.tr("Set by your IT department ({source}).").format(
                    source=self.settings.locked[key]
                )
            )
            note.setWordWrap(True)
            note.setStyleSheet("color: #666;")
            form.addRow("", note)
            self.lock_notes[key] = note
            widget.setToolTip(note.text())

    def _browse_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, self.tr("CA certificate"), "", self.tr("Certificates (*.pem *.crt *.cer)")
        )
        if path:
            self.ca_bundle.setText(path)

    def _load_devices(self) -> None:
        """Fill camera/microphone lists off the GUI thread (device probing can be slow)."""
        try:
            from app.media import devices  # noqa: F401 - presence check only
        except ImportError:
            return
        from app.ui.bridge import run_in_worker

        run_in_worker(
            _list_devices,
            on_done=self._fill_devices,
            on_error=lambda e: log.info("device listing failed: %s", e),
        )

    def _fill_devices(self, found: dict[str, list[Any]]) -> None:
        for combo, kind, key in (
            (self.camera, "cameras", "camera_device"),
            (self.microphone, "microphones", "microphone_device"),
            (self.speaker, "speakers", "speaker_device"),
        ):
            for device in found.get(kind, []):
                # The media engine opens devices by id; people choose by name.
                name = getattr(device, "name", str(device))
                ident = getattr(device, "id", name)
                if combo.findData(ident) < 0:
                    combo.addItem(name, ident)
            _select(combo, self.settings.get(key))

    # -- values -----------------------------------------------------------------------
    def _load(self) -> None:
        for key, editor in self.editors.items():
            value = self.settings.get(key)
            if isinstance(editor, QComboBox):
                if editor.findData(value) < 0 and value:
                    editor.addItem(str(value), value)
                _select(editor, value)
            elif isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QSpinBox):
                editor.setValue(int(value))
            elif isinstance(editor, QLineEdit):
                editor.setText(str(value))

    def values(self) -> dict[str, Any]:
        """What the dialog currently shows, for unlocked keys."""
        out: dict[str, Any] = {}
        for key, editor in self.editors.items():
            if self.settings.is_locked(key):
                continue
            if isinstance(editor, QComboBox):
                out[key] = editor.currentData()
            elif isinstance(editor, QCheckBox):
                out[key] = editor.isChecked()
            elif isinstance(editor, QSpinBox):
                out[key] = editor.value()
            elif isinstance(editor, QLineEdit):
                out[key] = editor.text().strip()
        return out

    def accept(self) -> None:
        """Validate and save; a wrong value keeps the dialog open and names the problem."""
        try:
            for key, value in self.values().items():
                if value != self.settings.get(key):
                    self.settings.set_user(key, value)
            self.settings.save()
        except (ValueError, PermissionError, OSError) as exc:
            QMessageBox.warning(self, self.tr("Settings"), str(exc))
            return
        super().accept()


def _select(combo: QComboBox, value: Any) -> None:
    index = combo.findData(value)
    combo.setCurrentIndex(max(index, 0))


def _list_devices() -> dict[str, list[Any]]:
    from app.media.devices import list_devices

    return list_devices()
