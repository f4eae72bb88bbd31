"""Every Qt widget lives here; the cores stay Qt-free."""

from app.ui.pyside_imports import stop_source_scan_on_import

stop_source_scan_on_import()
