"""Build every main screen at one scale and language, save a PNG of each, list squeezed fields.

    QT_SCALE_FACTOR=1.5 python -m tests.foundation.layout_probe OUTDIR --lang zh_CN

Runs in its own process (Qt reads QT_SCALE_FACTOR once, at start-up). Prints one JSON line:
``{"problems": [...], "shots": [...]}``. A field is squeezed when it is narrower than what it
must show in full: a line edit's placeholder ("输入…" for "输入消息"), a button's text, a
one-line label's text, a table column of short values (IDs, dates, ages) narrower than its
widest value. Real records are in a real encrypted cache; nothing talks to a hub.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# Logical window sizes: a 1920×1080 screen at 100 % / 150 % / 200 % (the window a maximised
# YiQiao gets, less the taskbar), and a 1366×768 laptop at 100 %.
SIZES = {1.0: (1366, 720), 1.5: (1280, 680), 2.0: (960, 500)}


def squeezed(root, where: str) -> list[str]:  # noqa: ANN001 - a QWidget
    """Fields in ``root``'s visible tree narrower than their content."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import (
        QCheckBox,
        QLabel,
        QLineEdit,
        QPushButton,
        QTableView,
        QTreeView,
    )

    problems: list[str] = []
    for w in [root, *root.findChildren(object)]:
        if not hasattr(w, "isVisible") or not w.isVisible():
            continue
        name = f"{where}: {type(w).__name__}#{w.objectName()}"
        fm = w.fontMetrics() if hasattr(w, "fontMetrics") else None
        if isinstance(w, QLineEdit) and w.placeholderText() and not w.text():
            need = fm.horizontalAdvance(w.placeholderText()) + 10
            if w.width() < need:
                problems.append(f"{name} placeholder {w.placeholderText()!r}: {w.width()} < {need}")
        elif isinstance(w, (QPushButton, QCheckBox)) and w.text():
            text = w.text().replace("&", "")
            need = fm.horizontalAdvance(text) + (24 if isinstance(w, QCheckBox) else 6)
            if w.width() < need:
                problems.append(f"{name} text {text!r}: {w.width()} < {need}")
        elif (
            isinstance(w, QLabel)
            and w.text()
            and not w.wordWrap()
            and w.textFormat() != Qt.TextFormat.RichText
            and "<" not in w.text()
            and w.pixmap().isNull()
        ):
            text = w.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
            widest = max(fm.horizontalAdvance(line) for line in text.splitlines() or [""])
            if w.width() + 1 < widest:
                problems.append(f"{name} text {w.text()!r}: {w.width()} < {widest}")
        elif isinstance(w, (QTableView, QTreeView)) and w.model() is not None:
            problems += _columns(w, name)
    return problems


def _columns(view, name: str) -> list[str]:  # noqa: ANN001 - QTableView | QTreeView
    from PySide6.QtCore import Qt

    model = view.model()
    header = view.horizontalHeader() if hasattr(view, "horizontalHeader") else view.header()
    fm = view.fontMetrics()
    out = []
    for c in range(model.columnCount()):
        if header.isSectionHidden(c):
            continue
        texts = [
            str(model.index(r, c).data(Qt.ItemDataRole.DisplayRole) or "")
            for r in range(min(model.rowCount(), 50))
        ]
        texts = [t for t in texts if t]
        if not texts or not all(_short_value(t) for t in texts):
            continue  # free text may elide; short values (IDs, names, dates, ages) must not
        need = max(fm.horizontalAdvance(t) for t in texts) + 6
        width = header.sectionSize(c)
        if width < need:
            title = model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
            out.append(f"{name} column {title!r} ({max(texts, key=len)!r}): {width} < {need}")
    return out


def _short_value(text: str) -> bool:
    """An ID, date, age, sex or name: shown whole. Sentences may be elided."""
    return len(text) <= 24 and (text.isascii() or len(text) <= 8)


def _session(folder: Path):  # noqa: ANN202 - (SyncSession, UserInfo)
    from app.protocol.auth import Role, UserInfo
    from app.protocol.sync import DocType
    from app.sync.blobstore import BlobStore
    from app.sync.cache import open_cache
    from app.sync.engine import SyncEngine
    from app.sync.hub_client import HubClient
    from app.sync.session import SyncSession
    from app.sync.store import RecordStore

    user = UserInfo(
        id="u-doc",
        username="doctor",
        display_name="王建华",
        role=Role.clinic_doctor,
        facility_id="clinic-a",
        facility_name="青山镇卫生院",
    )
    cache = open_cache(folder / "cache.db", os.urandom(32))
    blobs = BlobStore(folder / "blobs", os.urandom(32), cache, 1 << 30)
    store = RecordStore(cache, user.id, user.facility_id)
    people = [
        ("欧阳秀英", "QS-2026-000123", "F", "1950-03-15", "110101195003150021"),
        ("张桂兰", "QS-2026-000042", "F", "1965-11-02", "110101196511020041"),
        ("李建国", "QS-2026-001907", "M", "1972-07-30", "110101197207300019"),
    ]
    for name, number, sex, born, card in people:
        patient = store.create(
            DocType.patient,
            {
                "name": name,
                "patient_number": number,
                "sex": sex,
                "birth_date": born,
                "id_card": card,
            },
        )
        store.create(
            DocType.consultation,
            {
                "status": "submitted",
                "reason": "胸痛三天，心电图ST段改变，请心内科会诊",
                "urgency": "urgent",
                "consent": {
                    "given_by": "patient",
                    "signer_name": name,
                    "signed_at": "2026-11-20T09:00:00+08:00",
                    "scan": {"sha256": "c" * 64, "name": "consent.jpg"},
                },
            },
            patient_id=patient.id,
        )
    engine = SyncEngine(store, blobs, HubClient("http://127.0.0.1:9"))
    return SyncSession("probe", folder, store, blobs, engine), user


def _settle(app, until=lambda: True, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if until():
            for _ in range(5):
                app.processEvents()
            return
        time.sleep(0.02)


def _rows(widget) -> int:  # noqa: ANN001
    from PySide6.QtWidgets import QTableView, QTreeView

    views = widget.findChildren(QTableView) + widget.findChildren(QTreeView)
    return max((v.model().rowCount() for v in views if v.model() is not None), default=0)


def main(argv: list[str] | None = None) -> int:
    """Build, shoot and check each screen; print the JSON summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--lang", default="zh_CN")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    scale = float(os.environ.get("QT_SCALE_FACTOR", "1") or 1)
    width, height = SIZES.get(scale, (1280, 680))

    from PySide6.QtWidgets import QApplication

    from app.config import load_settings
    from app.context import AppContext
    from app.credentials import use_memory_keyring
    from app.ui.i18n import install_translators

    use_memory_keyring()
    app = QApplication(sys.argv[:1])
    install_translators(args.lang)
    from app.ui.login_dialog import LoginDialog
    from app.ui.main_window import MainWindow
    from app.ui.pages import PAGES
    from app.ui.settings_dialog import SettingsDialog

    tag = f"{args.lang}-{int(scale * 100)}"
    problems: list[str] = []
    shots: list[str] = []

    def shoot(widget, name: str) -> None:  # noqa: ANN001
        path = args.out / f"{name}-{tag}.png"
        widget.grab().save(str(path))
        shots.append(str(path))
        problems.extend(squeezed(widget, f"{name}@{tag}"))

    with tempfile.TemporaryDirectory(prefix="yiqiao-layout-") as tmp:
        session, user = _session(Path(tmp))
        context = AppContext(settings=load_settings(registry={}), hub_url="https://hub.example.cn")
        context.user = user
        context.services["sync"] = session
        window = MainWindow(context)
        window.resize(width, height)
        window.show()
        context.changed("user")
        context.changed("sync")
        for key, _module, _cls in PAGES:
            page = window.show_page(key)
            if key in ("consultations", "patients"):
                _settle(app, lambda p=page: _rows(p) >= 3)
            _settle(app)
            shoot(window, f"page-{key}")
            if key == "call":
                call = window.page("call")
                call.stack.setCurrentWidget(call.call_widget)
                _settle(app)
                shoot(window, "call-in-progress")
                call.stack.setCurrentIndex(0)
        for name, dialog in (
            ("login", LoginDialog(context, window)),
            ("settings", SettingsDialog(context.settings, window)),
        ):
            dialog.show()
            _settle(app)
            shoot(dialog, f"dialog-{name}")
            dialog.close()
        window.close()
        session.store.cache.close()
    print(json.dumps({"problems": problems, "shots": shots}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
