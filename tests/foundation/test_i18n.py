"""Chinese UI: no English left where the project owns the string; Qt's dialogs too."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from app.config import load_settings
from app.context import AppContext
from app.ui.i18n import install_translators, resolve_language
from tests.foundation.ui_text import shown_texts, untranslated
from tools.ts_fill import DEFAULT_TS, unfinished


@pytest.fixture
def chinese(qapp):
    loaded = install_translators("zh_CN")
    yield loaded
    install_translators("en")


def test_language_follows_the_os_unless_overridden():
    assert resolve_language("system", "zh_CN") == "zh_CN"
    assert resolve_language("system", "zh_TW") == "zh_CN"
    assert resolve_language("system", "de_DE") == "en"
    assert resolve_language("en", "zh_CN") == "en"


def test_translation_source_is_complete():
    import xml.etree.ElementTree as ET

    missing = unfinished(ET.parse(DEFAULT_TS).getroot())
    assert not missing, f"{len(missing)} untranslated entries, e.g. {missing[:5]}"


def test_main_window_and_every_page_fully_chinese(chinese, qtbot, policy_file):
    from app.ui.main_window import MainWindow
    from app.ui.pages import PAGES

    assert "yiqiao_zh_CN" in chinese, "build the .qm first: make translations"
    assert "qtbase_zh_CN" in chinese
    policy_file.write_text('language = "fr"\n')  # makes the policy banner appear too
    window = MainWindow(AppContext(settings=load_settings(registry={})))
    qtbot.addWidget(window)
    for key, _module, _cls in PAGES:
        window.show_page(key)
    bad = untranslated(shown_texts(window))
    assert not bad, "\n".join(bad)
    assert window.nav.item(0).text() == "会诊"


def test_dialogs_fully_chinese(chinese, qtbot, policy_file):
    from app.ui.about_dialog import AboutDialog
    from app.ui.login_dialog import LoginDialog
    from app.ui.settings_dialog import SettingsDialog

    policy_file.write_text('hub_url = "https://hub.example.cn"\n')
    context = AppContext(settings=load_settings(registry={}))
    for dialog in (
        SettingsDialog(context.settings),
        LoginDialog(context),
        AboutDialog(),
    ):
        qtbot.addWidget(dialog)
        bad = untranslated(shown_texts(dialog))
        assert not bad, "\n".join(bad)


def test_qt_standard_buttons_are_translated(chinese, qtbot):
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Cancel | QDialogButtonBox.StandardButton.Close
    )
    qtbot.addWidget(box)
    assert box.button(QDialogButtonBox.StandardButton.Cancel).text() == "取消"
    assert QApplication.translate("MainWindow", "Patients") == "患者"
