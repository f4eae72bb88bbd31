"""Table columns that share the width but never cut an identifier."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QHeaderView


def stretch_keeping_whole(header: QHeaderView, whole: Iterable[int]) -> None:
    """Stretch every column, except ``whole`` (IDs, dates, ages): those always fit their
    widest value, at any scaling and in either language (a cut patient ID is a wrong one)."""
    header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    for column in whole:
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
