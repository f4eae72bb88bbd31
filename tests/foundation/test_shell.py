"""The app shell as a person uses it: keyboard navigation, settings, diagnostics, sign-in."""

from __future__ import annotations

import json
import socket
import zipfile

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QWidget

from app.config import load_settings
from app.context import AppContext


def _window(qtbot):
    from app.ui.main_window import MainWindow

    window = MainWindow(AppContext(settings=load_settings(registry={})))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_keyboard_navigation_between_pages(qtbot):
    window = _window(qtbot)
    assert window.stack.currentIndex() == 0
    window.raise_()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=60000)
    window.nav.setFocus()
    qtbot.keyClick(window.nav, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.nav.currentRow() == 2 and window.stack.currentIndex() == 2
    assert "viewer" in window._pages  # created on first visit, not at start-up
    assert "call" not in window._pages
    window.nav.setFocus()
    qtbot.keyClick(window.nav, Qt.Key.Key_Down)
    assert window.stack.currentIndex() == 3


def test_policy_problem_banner_names_key_and_fallback(qtbot, policy_file):
    policy_file.write_text('log_level = "LOUD"\n')
    window = _window(qtbot)
    assert window.banner is not None and window.banner.isVisible()
    text = window.banner.label.text()
    assert "log_level" in text and "LOUD" in text and "INFO" in text


def test_settings_dialog_locks_policy_fields_and_saves_the_rest(qtbot, policy_file):
    from app.ui.settings_dialog import SettingsDialog

    policy_file.write_text('hub_url = "https://hub.county.cn"\nmicrophone_allowed = false\n')
    settings = load_settings(registry={})
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert not dialog.hub_url.isEnabled()
    assert dialog.hub_url.text() == "https://hub.county.cn"
    assert str(policy_file) in dialog.lock_notes["hub_url"].text()
    assert not dialog.microphone_allowed.isEnabled()
    assert not dialog.microphone_allowed.isChecked()
    assert dialog.proxy.isEnabled()
    dialog.proxy.setText("http://proxy.town:3128")
    dialog.audio_only.setChecked(True)
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    again = load_settings(registry={})
    assert again["proxy"] == "http://proxy.town:3128"
    assert again["audio_only"] is True
    assert again["hub_url"] == "https://hub.county.cn"
    saved = json.loads((settings.user_file).read_text())
    assert "hub_url" not in saved  # policy values are never copied into the user file


def test_settings_dialog_refuses_a_bad_value(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from app.ui.settings_dialog import SettingsDialog

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    settings = load_settings(registry={})
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.proxy.setText("gopher://nope")
    dialog.accept()
    assert shown and "proxy" in shown[0]
    assert load_settings(registry={})["proxy"] == "system"


def test_diagnostics_zip_has_logs_versions_and_no_secrets(profile_dir, tmp_path):
    import logging

    from app import credentials
    from app.diagnostics import export_diagnostics
    from app.logging_setup import setup_logging

    settings = load_settings(registry={})
    log_file = setup_logging("INFO")
    logging.getLogger("test").warning("a line IT needs")
    credentials.set_secret("refresh-token:doctor@hub", "SECRET-TOKEN-123")
    target = export_diagnostics(tmp_path / "diag.zip", settings, {"hub_url": "http://h"})
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
        report = json.loads(zf.read("report.json"))
        everything = b"".join(zf.read(n) for n in names)
    assert f"logs/{log_file.name}" in names
    assert b"a line IT needs" in everything
    assert report["versions"]["pydicom"] != "not installed"
    assert "os" in report["system"]
    assert b"SECRET-TOKEN-123" not in everything


def _refusing_port() -> tuple[socket.socket, int]:
    """A port that refuses connections and that no other test can take meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # bound but never listening: connects are refused
    return s, s.getsockname()[1]


def test_sign_in_when_hub_unreachable_says_so(qtbot):
    from app.ui.login_dialog import LoginDialog

    holder, port = _refusing_port()
    context = AppContext(settings=load_settings(registry={}), hub_url=f"http://127.0.0.1:{port}")
    dialog = LoginDialog(context)
    qtbot.addWidget(dialog)
    dialog.username.setText("doctor")
    dialog.password.setText("pw")
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.sign_in_button.isEnabled(), timeout=60000)
    assert "Cannot reach the hub" in dialog.error.text()
    assert context.user is None
    holder.close()


def test_about_lists_component_versions(qtbot):
    from importlib import metadata

    from app.ui.about_dialog import AboutDialog

    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert dialog.version_labels["pydicom"].text() == metadata.version("pydicom")
    assert dialog.version_labels["aiortc"].text() == metadata.version("aiortc")
    assert dialog.version_labels["Qt"].text()


def _controller(qtbot):
    from app.ui.app import ClientController

    context = AppContext(settings=load_settings(registry={}))
    controller = ClientController(QApplication.instance(), context)
    qtbot.addWidget(controller.window)
    return controller


def test_no_keyring_in_demo_keeps_secrets_in_memory_and_says_so(qtbot):
    import keyring
    from keyring.backends import fail

    from app import credentials

    keyring.set_keyring(fail.Keyring())
    controller = _controller(qtbot)
    with_error = []
    try:
        credentials.check_keyring()
    except credentials.KeyringUnavailable as exc:
        with_error.append(exc)
    controller.keyring_unavailable(with_error[0])
    assert controller.context.ephemeral_secrets
    assert controller.context.user_data_dir().name.startswith("yiqiao-demo-")
    credentials.set_secret("k", "v")  # works, in memory only
    assert credentials.get_secret("k") == "v"
    banner = controller.window.findChild(QWidget, "noticeBanner")
    assert banner is not None and "memory" in banner.label.text()


def test_no_keyring_with_a_real_hub_refuses_clearly(qtbot, policy_file, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from app import credentials

    policy_file.write_text('hub_url = "https://hub.county.cn"\n')
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda *a: shown.append(a[2]))
    controller = _controller(qtbot)
    controller.keyring_unavailable(credentials.KeyringUnavailable("none"))
    assert shown and "plain file" in shown[0]
    assert not controller.context.ephemeral_secrets


def test_status_bar_says_offline_when_the_hub_is_unreachable(qtbot, policy_file):
    holder, port = _refusing_port()
    policy_file.write_text(f'hub_url = "http://127.0.0.1:{port}"\n')
    controller = _controller(qtbot)
    controller.start_hub()
    qtbot.waitUntil(lambda: "offline" in controller.window.hub_label.text(), timeout=60000)
    controller.health_timer.stop()
    holder.close()


def test_sign_in_against_the_real_demo_hub(qtbot, tmp_path):
    """The whole path a new user takes: demo hub starts, sign-in pressed early, signed in."""
    from app import credentials
    from app.embedded_hub import start_embedded_hub
    from app.ui.login_dialog import LoginDialog, token_key

    context = AppContext(settings=load_settings(registry={}))
    dialog = LoginDialog(context)
    qtbot.addWidget(dialog)
    dialog.username.setText("doctor")
    dialog.password.setText("demo1234")
    dialog.submit()  # before the hub is up: waits instead of failing
    assert not dialog.sign_in_button.isEnabled()
    hub = start_embedded_hub(tmp_path / "hub")
    try:
        context.hub_url = hub.url
        with qtbot.waitSignal(dialog.signed_in, timeout=60000) as signal:
            dialog.set_hub_url(hub.url)
        tokens = signal.args[0]
        assert tokens.user.username == "doctor"
        assert tokens.user.facility_name  # shown in the status bar
        assert credentials.get_secret(token_key("doctor", hub.url)) == tokens.refresh_token
        # a wrong password is refused with the hub's reason
        dialog2 = LoginDialog(context)
        qtbot.addWidget(dialog2)
        dialog2.username.setText("doctor")
        dialog2.password.setText("wrong")
        dialog2.submit()
        qtbot.waitUntil(lambda: dialog2.sign_in_button.isEnabled(), timeout=60000)
        assert "refused" in dialog2.error.text()
    finally:
        hub.stop()


def test_settings_offers_devices_by_name_and_stores_their_id(qtbot):
    from app.media.devices import Device
    from app.ui.settings_dialog import SettingsDialog

    settings = load_settings(registry={})
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog._fill_devices(
        {
            "cameras": [Device("video=USB Camera", "USB Camera", "camera", "dshow")],
            "microphones": [],
            "speakers": [Device("3", "Speakers (Realtek)", "speaker", "portaudio")],
        }
    )
    dialog.speaker.setCurrentIndex(dialog.speaker.findText("Speakers (Realtek)"))
    dialog.camera.setCurrentIndex(dialog.camera.findText("USB Camera"))
    dialog.accept()
    again = load_settings(registry={})
    assert again["speaker_device"] == "3"
    assert again["camera_device"] == "video=USB Camera"
