"""Collect every string a widget tree shows, and find English left in a Chinese UI."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QTableWidget,
    QTabWidget,
    QTreeWidget,
    QWidget,
)

TS_FILE = Path(__file__).resolve().parents[2] / "resources/translations/yiqiao_zh_CN.ts"

# Proper nouns, units and standard abbreviations that stay in Latin script in Chinese UIs.
ALLOWED_WORDS = {
    "yiqiao",
    "dicom",
    "gsps",
    "pyside6",
    "aiortc",
    "pyav",
    "pydicom",
    "python",
    "english",
    "http",
    "https",
    "proxy",
    "system",
    "none",
    "webrtc",
    "kbit",
    "kbps",
    "mbit",
    "spo2",
    "jpeg",
    "json",
    "zip",
    "demo",
    "opus",
    "lossy",
    "cine",
    "mmhg",
    "mmol",
    "bpm",
    "bluetooth",
    # DICOM networking terms hospital IT and radiology use untranslated.
    "pacs",
    "dicomweb",
    "qido",
    "wado",
    "minip",  # minimum/maximum intensity projection, multiplanar reconstruction: radiology's
    "mip",  # own abbreviations, used untranslated in Chinese reading rooms too
    "mpr",
}
# URLs, paths, file patterns, e-mail-like ids, and quoted identifiers/values (setting keys).
_URL_OR_PATH = re.compile(r"(\w+://\S+|[A-Za-z]:\\\S*|/[\w./-]+|\*\.\w+|\S+@\S+|'[^']*'|“[^”]*”)")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{3,}")


def shown_texts(root: QWidget) -> list[tuple[str, str]]:
    """(widget description, text) for every visible-text property in the tree."""
    out: list[tuple[str, str]] = []
    widgets = [root, *root.findChildren(QWidget)]
    for w in widgets:
        name = f"{type(w).__name__}#{w.objectName()}"
        if w.isWindow() and w.windowTitle():
            out.append((name + ".windowTitle", w.windowTitle()))
        if w.toolTip():
            out.append((name + ".toolTip", w.toolTip()))
        if isinstance(w, QLabel):
            out.append((name, w.text()))
        elif isinstance(w, QAbstractButton):
            out.append((name, w.text()))
        elif isinstance(w, QGroupBox):
            out.append((name, w.title()))
        elif isinstance(w, QLineEdit):
            out.append((name + ".placeholder", w.placeholderText()))
        elif isinstance(w, QComboBox):
            out.extend((name, w.itemText(i)) for i in range(w.count()))
        elif isinstance(w, QTabWidget):
            out.extend((name, w.tabText(i)) for i in range(w.count()))
        elif isinstance(w, QListWidget):
            out.extend((name, w.item(i).text()) for i in range(w.count()))
        elif isinstance(w, QTableWidget):
            for c in range(w.columnCount()):
                item = w.horizontalHeaderItem(c)
                if item is not None:
                    out.append((name + ".header", item.text()))
        elif isinstance(w, QTreeWidget):
            header = w.headerItem()
            out.extend((name + ".header", header.text(c)) for c in range(header.columnCount()))
        if isinstance(w, QMainWindow):
            for action in w.menuBar().actions():
                out.append((name + ".menu", action.text()))
                menu = action.menu()
                if menu is not None:
                    out.extend((name + ".menuitem", a.text()) for a in menu.actions())
        for action in w.actions():
            if action.text():
                out.append((name + ".action", action.text()))
    return [(n, t) for n, t in out if t and t.strip()]


def english_sources() -> set[str]:
    """Every source string the project owns (from the Linguist file)."""
    root = ET.parse(TS_FILE).getroot()
    return {m.findtext("source", "") for m in root.iter("message")}


def untranslated(texts: list[tuple[str, str]]) -> list[str]:
    """Texts that are one of our English sources verbatim, or contain English words."""
    sources = english_sources()
    bad = []
    for where, text in texts:
        plain = text.replace("&", "")
        if text in sources and not _is_allowed(plain):
            bad.append(f"{where}: {text!r} (source string shown untranslated)")
            continue
        stripped = _URL_OR_PATH.sub(" ", plain)
        words = [w for w in _WORD.findall(stripped) if w.lower() not in ALLOWED_WORDS]
        if words:
            bad.append(f"{where}: {text!r} (English words {words})")
    return bad


def _is_allowed(text: str) -> bool:
    stripped = _URL_OR_PATH.sub(" ", text)
    return all(w.lower() in ALLOWED_WORDS for w in _WORD.findall(stripped))
