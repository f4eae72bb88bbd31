"""DICOM networking problems in the user's language, worded by Qt's translator."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from app.dicom_net import wording


def net_error_text(exc: BaseException) -> str:
    """One sentence for a DimseError / DicomWebError / NodeError / OSError, plus the detail."""
    return wording.net_error_text(exc, QCoreApplication.translate)


def status_words(status: int) -> str:
    """A DIMSE status for the per-instance results list."""
    return wording.status_words(status, QCoreApplication.translate)
