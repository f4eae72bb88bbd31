"""The main window: navigation between pages, menus, and a status bar for hub and sync."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.ui.pages import PAGES
from app.ui.setting_problems import describe as describe_problem
from app.ui.wording import error_text

if TYPE_CHECKING:
    from app.ui.pages.consultations import ConsultationsPage
    from app.ui.pages.viewer import ViewerPage

log = logging.getLogger(__name__)


class NoticeBanner(QWidget):
    """A dismissable yellow strip across the top of the window."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBanner")
        self.setStyleSheet(
            "#noticeBanner { background: #fff4ce; border-bottom: 1px solid #e0c060; }"
        )
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QHBoxLayout(self)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton(self.tr("Dismiss"))
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)

    def add_action(self, text: str, slot: Callable[[], None]) -> QPushButton:
        """A button beside the text (before “Dismiss”) that does something about it."""
        button = QPushButton(text)
        button.clicked.connect(slot)
        layout = self.layout()
        assert isinstance(layout, QHBoxLayout)
        layout.insertWidget(1, button, 0, Qt.AlignmentFlag.AlignTop)
        return button


class PolicyBanner(NoticeBanner):
    """Names settings problems (e.g. a wrong key in IT's policy file) and what was used."""

    def __init__(self, problems: list[str], parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        self.label.setText(
            self.tr("Some settings could not be applied:") + "\n" + "\n".join(problems)
        )


class MainWindow(QMainWindow):
    """Navigation on the left, the current page on the right, hub/sync/user below."""

    sign_in_requested = Signal()
    case_opened = Signal(str)  # consultation id shown on the case screen
    sign_out_requested = Signal()
    settings_requested = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle(self.tr("YiQiao Remote Consultation"))
        self.resize(1200, 780)
        self._pages: dict[str, QWidget] = {}

        central = QWidget()
        outer = QVBoxLayout(central)
        self._outer = outer
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        problems = [describe_problem(p) for p in context.settings.problems]
        self.banner = PolicyBanner(problems) if problems else None
        if self.banner:
            outer.addWidget(self.banner)

        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setAccessibleName(self.tr("Navigation"))
        self.nav.setFixedWidth(self.fontMetrics().horizontalAdvance("M") * 14)
        self.stack = QStackedWidget()
        titles = {
            "consultations": self.tr("Consultations"),
            "patients": self.tr("Patients"),
            "viewer": self.tr("Viewer"),
            "call": self.tr("Call"),
            "dicom": self.tr("DICOM network"),
        }
        icons = {
            "consultations": QStyle.StandardPixmap.SP_FileDialogDetailedView,
            "patients": QStyle.StandardPixmap.SP_DirHomeIcon,
            "viewer": QStyle.StandardPixmap.SP_DesktopIcon,
            "call": QStyle.StandardPixmap.SP_MediaPlay,
            "dicom": QStyle.StandardPixmap.SP_DriveNetIcon,
        }
        self.nav.setStyleSheet("QListWidget#navigation::item { padding: 8px 4px; }")
        font = self.nav.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.nav.setFont(font)
        for index, (key, _module, _cls) in enumerate(PAGES):
            item = QListWidgetItem(titles.get(key, key))
            if key in icons:
                item.setIcon(self.style().standardIcon(icons[key]))
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(f"Ctrl+{index + 1}")
            self.nav.addItem(item)
            self.stack.addWidget(QWidget())  # replaced by the real page on first visit
        self.nav.currentRowChanged.connect(self.show_page_at)
        body.addWidget(self.nav)
        body.addWidget(self.stack, 1)
        outer.addLayout(body, 1)
        self.setCentralWidget(central)

        self._build_menus()
        self._build_status_bar()
        self.nav.setCurrentRow(0)
        context.on_change(self._on_context_change)

    # -- pages ------------------------------------------------------------------------
    def show_page_at(self, row: int) -> None:
        """Show the page at ``row``, creating it on first visit."""
        if row < 0:
            return
        key = PAGES[row][0]
        self.page(key)
        self.stack.setCurrentIndex(row)
        if self.nav.currentRow() != row:
            self.nav.setCurrentRow(row)

    def show_page(self, key: str) -> QWidget:
        """Navigate to the page named ``key`` and return it."""
        row = [k for k, _, _ in PAGES].index(key)
        self.show_page_at(row)
        return self._pages[key]

    def page(self, key: str) -> QWidget:
        """The page widget for ``key`` (created if needed)."""
        if key not in self._pages:
            row = [k for k, _, _ in PAGES].index(key)
            _key, module_name, class_name = PAGES[row]
            module = importlib.import_module(module_name)
            widget = getattr(module, class_name)(self.context)
            placeholder = self.stack.widget(row)
            if placeholder is not None:
                self.stack.removeWidget(placeholder)
                placeholder.deleteLater()
            self.stack.insertWidget(row, widget)
            self._pages[key] = widget
        return self._pages[key]

    # -- the consultation workflow ------------------------------------------------------
    def open_case(self, consultation_id: str) -> QWidget:
        """Show a consultation's case screen (from the worklist, a notification, the call
        window or the incoming-call dialog); returns the case view."""
        view = self.consultations_page().open_case(consultation_id)
        self.case_opened.emit(consultation_id)
        return view

    def new_request(self, patient_id: str) -> None:
        """Open the request form for a patient."""
        self.consultations_page().new_request(patient_id)

    def continue_request(self, consultation_id: str) -> None:
        """Open a draft request in the form."""
        self.consultations_page().continue_request(consultation_id)

    def consultations_page(self) -> ConsultationsPage:
        """Navigate to the consultations page and return it."""
        from app.ui.pages.consultations import ConsultationsPage

        page = self.show_page("consultations")
        assert isinstance(page, ConsultationsPage)
        return page

    def viewer_page(self, show: bool = True) -> ViewerPage:
        """The viewer page (created if needed), navigated to if ``show``."""
        from app.ui.pages.viewer import ViewerPage

        page = self.show_page("viewer") if show else self.page("viewer")
        assert isinstance(page, ViewerPage)
        return page

    # -- menus ------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        self.sign_in_action = QAction(self.tr("Sign &in…"), self)
        self.sign_in_action.triggered.connect(self.sign_in_requested)
        self.sign_out_action = QAction(self.tr("Sign &out"), self)
        self.sign_out_action.triggered.connect(self.sign_out_requested)
        self.sign_out_action.setEnabled(False)
        settings_action = QAction(self.tr("&Settings…"), self)
        settings_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Preferences))
        settings_action.triggered.connect(self.settings_requested)
        diagnostics_action = QAction(self.tr("Export &diagnostics…"), self)
        diagnostics_action.triggered.connect(self.export_diagnostics)
        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.close)
        for action in (self.sign_in_action, self.sign_out_action, settings_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(diagnostics_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        go_menu = self.menuBar().addMenu(self.tr("&Go"))
        for index in range(self.nav.count()):
            action = QAction(self.nav.item(index).text(), self)
            action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            action.triggered.connect(lambda _=False, row=index: self.show_page_at(row))
            go_menu.addAction(action)
            self.addAction(action)  # shortcut works even while the menu bar is hidden/native

        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        about_action = QAction(self.tr("&About YiQiao"), self)
        about_action.triggered.connect(self.show_about)
        help_menu.addAction(about_action)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.hub_label = QLabel(self.tr("Hub: not connected"))
        self.hub_label.setObjectName("hubStatus")
        self.sync_slot = QWidget()  # the sync engine's status widget is placed here
        self._sync_layout = QHBoxLayout(self.sync_slot)
        self._sync_layout.setContentsMargins(0, 0, 0, 0)
        self.user_label = QLabel(self.tr("Not signed in"))
        self.user_label.setObjectName("userStatus")
        bar.addWidget(self.hub_label)
        bar.addWidget(self.sync_slot, 1)
        bar.addPermanentWidget(self.user_label)

    def set_sync_widget(self, widget: QWidget) -> None:
        """Place the sync status widget in the status bar (replacing any earlier one)."""
        layout = self._sync_layout
        while (item := layout.takeAt(0)) is not None:
            old = item.widget()
            if old is not None:
                old.deleteLater()
        layout.addWidget(widget)

    def show_notice(self, text: str) -> NoticeBanner:
        """Show a dismissable notice above the pages."""
        banner = NoticeBanner(text)
        self._outer.insertWidget(0, banner)
        return banner

    def set_hub_state(self, text: str, ok: bool) -> None:
        """Show the hub connection state in the status bar."""
        self.hub_label.setText(text)
        self.hub_label.setStyleSheet("" if ok else "color: #b00020;")

    def _on_context_change(self, topic: str) -> None:
        if topic != "user":
            return
        user = self.context.user
        if user is None:
            self.user_label.setText(self.tr("Not signed in"))
        else:
            self.user_label.setText(
                self.tr("{name} · {facility}").format(
                    name=user.display_name, facility=user.facility_name
                )
            )
        self.sign_in_action.setEnabled(user is None)
        self.sign_out_action.setEnabled(user is not None)

    # -- actions ----------------------------------------------------------------------
    def export_diagnostics(self) -> None:
        """Ask where to save, then write the zip off the GUI thread."""
        from app.diagnostics import export_diagnostics
        from app.ui.bridge import run_in_worker

        default = Path.home() / f"yiqiao-diagnostics-{datetime.now():%Y%m%d-%H%M}.zip"
        target, _ = QFileDialog.getSaveFileName(
            self, self.tr("Export diagnostics"), str(default), self.tr("Zip archives (*.zip)")
        )
        if not target:
            return
        run_in_worker(
            export_diagnostics,
            Path(target),
            self.context.settings,
            {"hub_url": self.context.hub_url},
            on_done=lambda path: self.statusBar().showMessage(
                self.tr("Diagnostics saved to {path}").format(path=path), 8000
            ),
            on_error=lambda exc: QMessageBox.warning(
                self,
                self.tr("Export diagnostics"),
                self.tr("Could not save: {error}").format(error=error_text(exc)),
            ),
        )

    def show_about(self) -> None:
        """The About dialog with component versions."""
        from app.ui.about_dialog import AboutDialog

        AboutDialog(self).exec()

    def flash(self, text: str, ms: int = 5000) -> None:
        """A transient message in the status bar."""
        QTimer.singleShot(0, lambda: self.statusBar().showMessage(text, ms))


def main_window_of(widget: QWidget) -> MainWindow | None:
    """The main window ``widget`` is shown in; None in a stand-alone window (dialogs, tests)."""
    window = widget.window()
    return window if isinstance(window, MainWindow) else None
