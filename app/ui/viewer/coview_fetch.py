"""Bring a series of the consultation onto the screen for co-viewing: open it if the viewer
has it, import it from the encrypted blob store if this computer holds it, else fetch it
ahead of every other download (``SyncEngine.request_blob(urgent=True)``) and report progress
until it is here. Every blocking step runs on a worker; the GUI thread only polls results.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from app.ui.bridge import run_in_worker
from app.ui.viewer.viewer_widget import ViewerWidget
from app.ui.workflow.case_model import ConsultationSeries


class SeriesShower(QObject):
    """Shows one series of ``source`` in ``viewer``'s active viewport (GUI thread)."""

    progress = Signal(int, int)  # instances here, instances in the series
    failed = Signal(str)

    def __init__(
        self, viewer: ViewerWidget, source: ConsultationSeries, poll_ms: int = 500
    ) -> None:
        super().__init__(viewer)
        self.viewer, self.source = viewer, source
        self.pending = ""  # the series being brought in
        self._then: Callable[[], None] | None = None
        self._importing = False
        self._polling = False
        self._imports = 0  # imports of the pending series that did not make it show
        self._with_others = False
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self._poll)
        viewer.import_finished.connect(self._imported)

    def library_series(self, uid: str):  # noqa: ANN201 - app.dicom_viewer.index.Series | None
        for _p, _s, series in self.viewer.library.all_series():
            if series.uid == uid and series.frames:
                return series
        return None

    def show(
        self, uid: str, then: Callable[[], None] | None = None, with_others: bool = False
    ) -> None:
        """Make ``uid`` the active viewport's series, then call ``then``. ``with_others``
        (the presenter) also brings in the consultation's other series held here, so he can
        switch to them in the viewer."""
        self.pending, self._then, self._imports = uid, then, 0
        self._with_others = with_others
        if self._open_if_here():
            return
        self._poll()
        self.timer.start()

    def cancel(self) -> None:
        self.pending, self._then = "", None
        self.timer.stop()

    def _open_if_here(self) -> bool:
        series = self.library_series(self.pending)
        if series is None:
            return False
        vp = self.viewer.active
        if vp is None or vp.series is not series:
            self.viewer.open_series(series)
        then, self._then, self.pending = self._then, None, ""
        self.timer.stop()
        if then is not None:
            then()
        return True

    def _poll(self) -> None:
        uid = self.pending
        if not uid or self._importing or self._polling:
            return
        self._polling = True
        source = self.source
        others = (
            [u for u in source.series if u != uid and self.library_series(u) is None]
            if self._with_others
            else []
        )

        def count() -> tuple[int, int, list[str]]:
            have, total = source.held(uid)
            if have < total:
                source.fetch_first(uid)  # again each time: other requests may have come in
            held = [u for u in others if source.complete(u)]
            return have, total, held

        def counted(result: tuple[int, int, list[str]]) -> None:
            self._polling = False
            if uid != self.pending:
                return
            have, total, held = result
            self.progress.emit(have, total)
            if total and have >= total:
                self.timer.stop()
                self._importing = True
                items = source.items(uid)
                for other in held:
                    items += source.items(other)
                self.viewer.import_buffers(items)

        def broke(exc: BaseException) -> None:
            self._polling = False
            self.failed.emit(str(exc))

        run_in_worker(count, on_done=counted, on_error=broke)

    def _imported(self, _report: object) -> None:
        if not self._importing:
            return
        self._importing = False
        if self.pending and not self._open_if_here():
            self._imports += 1
            if self._imports >= 2:  # the files are here but the viewer cannot read them
                self.failed.emit(self.pending)
                self.cancel()
            else:
                self.timer.start()
