"""Language choice and Qt translators (ours and Qt's own dialogs)."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from app import paths

SUPPORTED = ("en", "zh_CN")
_installed: list[QTranslator] = []


def resolve_language(setting: str, system_locale: str | None = None) -> str:
    """'system' follows the OS (any Chinese locale → zh_CN); otherwise the setting."""
    if setting in SUPPORTED:
        return setting
    name = system_locale or QLocale.system().name()
    return "zh_CN" if name.lower().startswith("zh") else "en"


def install_translators(language: str) -> list[str]:
    """Load YiQiao's and Qt's translations for ``language``; returns what was loaded."""
    app = QCoreApplication.instance()
    assert app is not None, "create the QApplication first"
    for translator in _installed:
        app.removeTranslator(translator)
    _installed.clear()
    QLocale.setDefault(QLocale(language))
    loaded: list[str] = []
    if language == "en":
        return loaded
    qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    candidates = [
        (f"yiqiao_{language}", str(paths.resources_dir() / "translations")),
        (f"qtbase_{language}", qt_dir),
    ]
    for name, directory in candidates:
        translator = QTranslator(app)
        if translator.load(name, directory):
            app.installTranslator(translator)
            _installed.append(translator)
            loaded.append(name)
    return loaded


_cli_app: list[QCoreApplication] = []


def use_cli_language(setting: str) -> str:
    """For command-line output (``--help``, ``--self-check``): install the translators for
    ``setting`` ("system" follows the OS), creating a windowless application object if there
    is none. Never call it before the GUI's QApplication would be created."""
    language = resolve_language(setting)
    if QCoreApplication.instance() is None:
        if language == "en":
            return language  # the sources are English: nothing to install
        _cli_app.append(QCoreApplication([]))
    install_translators(language)
    return language
