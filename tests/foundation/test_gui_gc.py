"""The GUI-thread collector: no collection elsewhere, and full collections stay short."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject

from app.ui.gui_gc import GuiThreadCollector


def test_startup_heap_is_frozen_and_cycles_made_later_are_still_collected(qapp) -> None:
    owner = QObject()
    frozen_before = gc.get_freeze_count()
    try:
        collector = GuiThreadCollector(owner, interval_ms=60_000)
        assert not gc.isenabled()  # a worker thread's allocations can no longer collect

        collector.collect_due()  # the first tick: start-up objects go to the permanent generation
        assert gc.get_freeze_count() > frozen_before

        # A cycle made after start-up is still found by a collection on this thread.
        collected_on: list[str] = []

        class Node:
            other: Node

            def __del__(self) -> None:
                collected_on.append(threading.current_thread().name)

        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        gc.collect()
        assert collected_on == [threading.current_thread().name] * 2
    finally:
        owner.deleteLater()
