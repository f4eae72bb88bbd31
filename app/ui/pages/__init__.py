"""The main window's pages, one module each, created lazily on first visit.

Each module defines one page class taking ``(context, parent=None)``.
"""

from __future__ import annotations

# (key, module, class) in navigation order; modules import lazily so start-up stays fast.
PAGES: list[tuple[str, str, str]] = [
    ("consultations", "app.ui.pages.consultations", "ConsultationsPage"),
    ("patients", "app.ui.pages.patients", "PatientsPage"),
    ("viewer", "app.ui.pages.viewer", "ViewerPage"),
    ("call", "app.ui.pages.call", "CallPage"),
    ("dicom", "app.ui.pages.dicom_network", "DicomNetworkPage"),
]
