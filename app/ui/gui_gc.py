"""Python's cycle collector runs on the GUI thread only.

CPython collects reference cycles in whichever thread happens to allocate when a
threshold is crossed. In an app with worker threads (DICOM import, decode, sync) that
can be a worker, and a cycle holding a Qt object (a closed dialog, a widget captured by
a lambda) is then destroyed off the GUI thread, which Qt does not allow: CI saw a
segmentation fault with "Garbage-collecting" on top of a viewer import worker's stack.

So automatic collection is switched off and a Qt timer runs the same generational
collection on the GUI thread when the allocation counts cross the same thresholds.
Reference counting still frees everything that is not in a cycle immediately.

A full collection walks every tracked object: with Qt, aiortc, PyAV and pydicom loaded
that is over 100,000 objects and 0.1 s or more of a frozen window. What exists when the
event loop first runs (modules, classes, the main window) lives for the whole session, so
the first tick moves it to the permanent generation (``gc.freeze``); later full
collections walk only what was made since.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

_INTERVAL_MS = 250
_installed: GuiThreadCollector | None = None


class GuiThreadCollector(QObject):
    """Runs ``gc.collect`` from a GUI-thread timer instead of at random allocations."""

    def __init__(self, parent: QObject, interval_ms: int = _INTERVAL_MS) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._startup_frozen = False
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start(interval_ms)

    def collect_due(self) -> int:
        """Collect the oldest generation whose threshold is crossed; returns objects found."""
        if not self._startup_frozen:
            self._startup_frozen = True
            found = gc.collect()
            gc.freeze()
            return found
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self._thresholds[generation]:
                return gc.collect(generation)
        return 0

    def stop(self) -> None:
        """Give collection back to the interpreter (the app is quitting)."""
        self._timer.stop()
        gc.enable()


def install_gui_thread_collector(app: QCoreApplication) -> GuiThreadCollector:
    """Install once per application (idempotent); call from the GUI thread."""
    global _installed
    if _installed is not None and _installed.parent() is app:
        return _installed
    _installed = GuiThreadCollector(app)
    app.aboutToQuit.connect(_installed.stop)
    return _installed
