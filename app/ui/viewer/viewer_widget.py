"""The viewer: series browser, 1×1 / 1×2 / 2×2 viewports, tools, cine, GSPS and export.

Import and decoding run on worker threads (``app.ui.bridge``); everything here only reacts
to their results on the GUI thread.
"""

from __future__ import annotations

import getpass
import io
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QSlider,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.dicom_viewer.annotations import Annotation, AnnotationSet
from app.dicom_viewer.anonymize import Anonymizer, anonymize_file
from app.dicom_viewer.calibration import manual_calibration
from app.dicom_viewer.decode_pool import ProcessDecodePool
from app.dicom_viewer.ecg import load_ecg
from app.dicom_viewer.errors import DicomFileError
from app.dicom_viewer.gsps import GspsContent, read_gsps, write_gsps
from app.dicom_viewer.index import (
    FrameRef,
    ImportReport,
    Library,
    Series,
    import_buffers,
    import_paths,
)
from app.dicom_viewer.loader import FrameSource, SeriesPreloader, is_encapsulated
from app.dicom_viewer.pipeline import Window
from app.dicom_viewer.render import PresentationOverrides, display_pixels, to_viewport
from app.dicom_viewer.view_state import ViewState, fit_zoom, visible_image_rect
from app.ui import bridge
from app.ui.viewer.ecg_view import EcgView
from app.ui.viewer.image_file import save_image
from app.ui.viewer.mpr_view import MprView
from app.ui.viewer.problem_words import viewer_problem_text
from app.ui.viewer.series_browser import SeriesBrowser
from app.ui.viewer.viewport import Viewport

log = logging.getLogger(__name__)

# (name, centre, width) in HU
PRESETS = [
    ("CT brain", 40, 80),
    ("CT lung", -600, 1500),
    ("CT bone", 400, 1800),
    ("CT abdomen", 40, 400),
    ("CT mediastinum", 50, 350),
]
TOOLS = [
    "wl",
    "pan",
    "zoom",
    "select",
    "length",
    "angle",
    "ellipse",
    "rectangle",
    "freehand",
    "arrow",
    "text",
    "calibration",
    "shutter",
]


class ViewerWidget(QWidget):
    """Everything the Viewer page shows."""

    import_finished = Signal(object)  # ImportReport
    file_written = Signal(object)  # Path of a saved GSPS or exported image
    frame_shown = Signal(int)

    def __init__(self, author: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.author = author or getpass.getuser()
        self.library = Library()
        # Compressed frames are decoded in worker processes (started on the first compressed
        # series): their decoders hold the GIL, so threads would only take turns.
        self.source = FrameSource(processes=ProcessDecodePool())
        self.preloader = SeriesPreloader(self.source)
        self.annotations = AnnotationSet()
        self.last_report: ImportReport | None = None
        self._cancel = threading.Event()
        self._progress: QProgressDialog | None = None
        self.viewports: list[Viewport] = []
        self.active: Viewport | None = None
        self._build()
        self.set_layout(1, 1)
        self.cine = QTimer(self)
        self.cine.timeout.connect(self._cine_step)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.toolbar = QToolBar()
        outer.addWidget(self.toolbar)
        self.toolbar2 = QToolBar()
        outer.addWidget(self.toolbar2)
        tb = self.toolbar

        def action(text: str, slot, shortcut: str | None = None, bar: QToolBar = tb) -> QAction:  # noqa: ANN001
            act = QAction(text, self)
            act.triggered.connect(slot)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
                act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            bar.addAction(act)
            self.addAction(act)
            return act

        action(self.tr("Open files…"), self._choose_files, "Ctrl+O")
        action(self.tr("Open folder / CD…"), self._choose_folder)
        action(self.tr("Open GSPS…"), self._choose_gsps)
        action(self.tr("Save annotations (GSPS)"), self._choose_save_gsps, "Ctrl+S")
        action(self.tr("Export image…"), self._choose_export)
        action(self.tr("Anonymized copy…"), self._choose_anonymize)
        tb.addSeparator()
        self.layout_box = QComboBox()
        self.layout_box.addItems(["1×1", "1×2", "2×2"])
        self.layout_box.setToolTip(self.tr("Layout"))
        self.layout_box.currentIndexChanged.connect(
            lambda i: self.set_layout(*[(1, 1), (1, 2), (2, 2)][i])
        )
        tb.addWidget(self.layout_box)
        self.preset_box = QComboBox()
        self.preset_box.addItem(self.tr("Window presets"))
        names = self._preset_names()
        for name, _c, _w in PRESETS:
            self.preset_box.addItem(names[name])
        self.preset_box.addItem(self.tr("Auto (image)"))
        self.preset_box.activated.connect(self._preset_chosen)
        tb.addWidget(self.preset_box)
        action(self.tr("Fit"), lambda: self._on_active(Viewport.fit))
        action(self.tr("1:1"), lambda: self._on_active(Viewport.actual_size))
        action(self.tr("Rotate"), lambda: self._on_active(lambda vp: vp.rotate(90)))
        action(self.tr("Flip"), lambda: self._on_active(Viewport.flip))
        action(self.tr("Invert"), lambda: self._on_active(Viewport.invert))
        mpr = action(self.tr("MPR"), self.open_mpr)
        mpr.setToolTip(self.tr("Axial, coronal and sagittal planes of the series (CT, MR)"))
        action(self.tr("Undo"), self.annotations.undo, "Ctrl+Z")
        action(self.tr("Redo"), self.annotations.redo, "Ctrl+Y")
        group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        labels = self._tool_labels()
        for key in TOOLS:
            act = QAction(labels[key], self)
            act.setCheckable(True)
            act.triggered.connect(lambda _c=False, k=key: self.set_tool(k))
            group.addAction(act)
            self.toolbar2.addAction(act)
            self.tool_actions[key] = act
        self.tool_actions["wl"].setChecked(True)
        self.tool_actions["shutter"].setToolTip(
            self.tr("Drag a rectangle: only the image inside it stays visible (saved with GSPS)")
        )
        clear = QAction(self.tr("Remove shutter"), self)
        clear.triggered.connect(lambda: self._on_active(lambda vp: vp.set_shutter(None)))
        self.toolbar2.addAction(clear)
        self.toolbar2.addSeparator()
        self.cine_action = QAction(self.tr("Cine"), self)
        self.cine_action.setCheckable(True)
        self.cine_action.toggled.connect(self.set_cine)
        self.toolbar2.addAction(self.cine_action)
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setValue(10)
        self.fps.setSuffix(self.tr(" fps"))
        self.fps.setToolTip(self.tr("Cine frame rate"))
        self.fps.valueChanged.connect(lambda _v: self.set_cine(self.cine_action.isChecked()))
        self.toolbar2.addWidget(self.fps)
        self.sync_box = QCheckBox(self.tr("Sync scroll"))
        self.sync_box.setToolTip(self.tr("Scroll series with the same frame of reference together"))
        self.sync_box.setChecked(True)
        self.toolbar2.addWidget(self.sync_box)

        split = QSplitter()
        outer.addWidget(split, 1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.browser = SeriesBrowser(self.source)
        self.browser.series_chosen.connect(self.open_series)
        left_layout.addWidget(self.browser, 1)
        self.skipped_label = QLabel()
        self.skipped_label.setWordWrap(True)
        self.skipped_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        left_layout.addWidget(self.skipped_label)
        split.addWidget(left)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        self.ecg_view = EcgView()
        self.mpr_view = MprView()
        self.mpr_view.closed.connect(lambda: self.stack.setCurrentWidget(self.grid_host))
        self.mpr_view.problem.connect(self.show_problem)
        self.stack.addWidget(self.grid_host)
        self.stack.addWidget(self.ecg_view)
        self.stack.addWidget(self.mpr_view)
        right_layout.addWidget(self.stack, 1)
        bottom = QHBoxLayout()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip(self.tr("Frame"))
        self.slider.valueChanged.connect(lambda v: self._on_active(lambda vp: vp.set_frame(v)))
        self.frame_label = QLabel()
        self.status = QLabel()
        self.status.setWordWrap(True)
        bottom.addWidget(self.slider, 1)
        bottom.addWidget(self.frame_label)
        right_layout.addLayout(bottom)
        right_layout.addWidget(self.status)
        split.addWidget(right)
        split.setStretchFactor(1, 1)

    def _preset_names(self) -> dict[str, str]:
        return {
            "CT brain": self.tr("CT brain"),
            "CT lung": self.tr("CT lung"),
            "CT bone": self.tr("CT bone"),
            "CT abdomen": self.tr("CT abdomen"),
            "CT mediastinum": self.tr("CT mediastinum"),
        }

    def _tool_labels(self) -> dict[str, str]:
        return {
            "wl": self.tr("W/L"),
            "pan": self.tr("Pan"),
            "zoom": self.tr("Zoom"),
            "select": self.tr("Select"),
            "length": self.tr("Length"),
            "angle": self.tr("Angle"),
            "ellipse": self.tr("Ellipse"),
            "rectangle": self.tr("Rectangle"),
            "freehand": self.tr("Freehand"),
            "arrow": self.tr("Arrow"),
            "text": self.tr("Text"),
            "calibration": self.tr("Calibrate"),
            "shutter": self.tr("Shutter"),
        }

    def _new_viewport(self) -> Viewport:
        vp = Viewport(self.source, self.annotations, self.author)
        vp.activated.connect(lambda v=vp: self.set_active(v))
        vp.frame_changed.connect(lambda i, v=vp: self._frame_changed(v, i))
        vp.problem.connect(self.show_problem)
        vp.calibration_requested.connect(lambda ann, v=vp: self._calibrate(v, ann))
        vp.tool = self.active.tool if self.active else "wl"
        return vp

    def set_layout(self, rows: int, cols: int) -> None:
        """Arrange rows × cols viewports, keeping the series already shown."""
        needed = rows * cols
        self.layout_shape = (rows, cols)
        while len(self.viewports) < needed:
            self.viewports.append(self._new_viewport())
        for vp in self.viewports:
            self.grid.removeWidget(vp)
            vp.hide()
        for i, vp in enumerate(self.viewports[:needed]):
            self.grid.addWidget(vp, i // cols, i % cols)
            vp.show()
        if self.active is None or self.active not in self.viewports[:needed]:
            self.set_active(self.viewports[0])

    @property
    def visible_viewports(self) -> list[Viewport]:
        return [vp for vp in self.viewports if vp.isVisibleTo(self)]

    def set_active(self, vp: Viewport) -> None:
        for other in self.viewports:
            other.active = other is vp
            other.update()
        self.active = vp
        self._sync_slider()

    def set_tool(self, tool: str) -> None:
        for vp in self.viewports:
            vp.tool = tool
        if tool in self.tool_actions:
            self.tool_actions[tool].setChecked(True)

    # ------------------------------------------------------------------ import
    def dragEnterEvent(self, e) -> None:  # noqa: ANN001, N802
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:  # noqa: ANN001, N802
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.import_paths(paths)

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, self.tr("Open DICOM files"), "", self.tr("DICOM, DICOMDIR or zip (*)")
        )
        if files:
            self.import_paths(files)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Open a folder, CD or USB stick"))
        if folder:
            self.import_paths([folder])

    def import_paths(self, paths: Sequence[str | Path]) -> None:
        """Index files/folders/DICOMDIR/zip on a worker with a cancellable progress bar."""
        self._cancel.clear()
        self._progress = QProgressDialog(
            self.tr("Reading DICOM files…"), self.tr("Cancel"), 0, 0, self
        )
        self._progress.setWindowTitle(self.tr("Import"))
        self._progress.setMinimumDuration(400)
        self._progress.canceled.connect(self._cancel.set)

        def progress(done: int, total: int) -> None:
            bridge.call_on_gui(self._import_progress, done, total)

        first_seen = threading.Event()
        warmed = threading.Event()

        def added(inst) -> None:  # noqa: ANN001 - Instance, on the import worker
            if inst.is_image and inst.location is None and not warmed.is_set():
                # Compressed frames are decoded only in the worker processes: start them
                # now, while the import goes on, so the first image does not wait for them.
                if is_encapsulated(FrameRef(inst, 0)):
                    warmed.set()
                    if self.source.processes is not None:
                        self.source.processes.warm_up()
            if inst.is_image and not first_seen.is_set():
                first_seen.set()
                bridge.call_on_gui(self._first_instance)

        bridge.run_in_worker(
            import_paths,
            list(paths),
            self.library,
            progress,
            self._cancel.is_set,
            added,
            on_done=self._import_done,
            on_error=self._import_failed,
        )

    def import_buffers(self, items: list[tuple[str, Callable[[], bytes]]]) -> None:
        """Index in-memory DICOM (``(name, opener)``; e.g. a case's attachments read from the
        encrypted blob store) on a worker: nothing decrypted is written to disk."""
        bridge.run_in_worker(
            import_buffers,
            list(items),
            self.library,
            on_done=self._import_done,
            on_error=self._import_failed,
        )

    def _import_progress(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.setMaximum(total)
            self._progress.setValue(done)

    def _first_instance(self) -> None:
        # Show something as soon as the first image is indexed, before the import ends.
        self.browser.populate(self.library)
        if self.active is not None and self.active.series is None:
            series = self.library.all_series()
            if series and series[0][2].frames:
                self.open_series(series[0][2])

    def _import_done(self, report: ImportReport) -> None:
        if self._progress is not None:
            self._progress.reset()
            self._progress = None
        self.last_report = report
        self.browser.populate(self.library)
        for vp in self.viewports:
            vp.relocate()
        if self.active is not None and self.active.series is not None:
            # The series was opened while the import was still adding to it: preload the
            # frames that arrived since (those already decoded are skipped).
            self._preload(self.active)
        self._sync_slider()
        lines = [self.tr("%1 file(s) imported").replace("%1", str(report.added))]
        if report.cancelled:
            lines.append(self.tr("Import cancelled."))
        if report.skipped:
            lines.append(self.tr("%1 file(s) skipped:").replace("%1", str(len(report.skipped))))
            lines += [f"{Path(s.path).name}: {s.reason}" for s in report.skipped[:20]]
        self.skipped_label.setText("\n".join(lines))
        if self.active is not None and self.active.series is None:
            for _p, _s, series in self.library.all_series():
                if series.frames or series.waveforms:
                    self.open_series(series)
                    break
        for pr in report.presentation_states[:1]:
            self.open_gsps(pr)
        self.import_finished.emit(report)

    def _import_failed(self, error: BaseException) -> None:
        if self._progress is not None:
            self._progress.reset()
            self._progress = None
        self.show_problem(viewer_problem_text(error))
        self.import_finished.emit(ImportReport())

    # ------------------------------------------------------------------ series display
    def open_series(
        self, series: Series, viewport: Viewport | None = None, state: ViewState | None = None
    ) -> None:
        """Show a series in the active (or given) viewport; ECG waveforms in the ECG view."""
        if not series.frames and series.waveforms:
            try:
                wave = series.waveforms[0]
                source = io.BytesIO(wave.opener()) if wave.opener is not None else wave.path
                self.ecg_view.show_recording(load_ecg(source))
                self.stack.setCurrentWidget(self.ecg_view)
            except DicomFileError as exc:
                self.show_problem(viewer_problem_text(exc))
            return
        self.stack.setCurrentWidget(self.grid_host)
        vp = viewport or self.active or self.viewports[0]
        vp.set_series(series, state)
        self.set_active(vp)
        self._preload(vp)

    def open_mpr(self) -> None:
        """Reformat the active viewport's series (the volume is built on a worker)."""
        vp = self.active
        if vp is None or vp.series is None:
            self.show_problem(self.tr("Open a CT or MR series first"))
            return
        self.stack.setCurrentWidget(self.mpr_view)
        self.mpr_view.open_series(vp.series, self.source)

    def _preload(self, vp: Viewport) -> None:
        """Decode the viewport's whole series in the background, nearest frames first."""
        if vp.series is None:
            return

        def on_frame(_index: int, _pixels: object, error: BaseException | None) -> None:
            if error is not None:
                bridge.call_on_gui(self.show_problem, viewer_problem_text(error))

        self.preloader.start(vp.series, vp.state.frame_index, on_frame=on_frame)

    def _frame_changed(self, vp: Viewport, index: int) -> None:
        if vp is self.active:
            self._sync_slider()
            self.frame_shown.emit(index)
        if self.sync_box.isChecked() and vp.series is not None:
            self._sync_others(vp)

    def _sync_others(self, source: Viewport) -> None:
        """Move viewports showing the same frame of reference to the nearest slice."""
        ref, series = source.current, source.series
        if ref is None or series is None or not series.frame_of_reference_uid:
            return
        pos = ref.instance.sort_key()[0]
        for vp in self.visible_viewports:
            if vp is source or vp.series is None or vp.series is series:
                continue
            if vp.series.frame_of_reference_uid != series.frame_of_reference_uid:
                continue
            keys = [f.instance.sort_key()[0] for f in vp.frames]
            nearest = min(range(len(keys)), key=lambda i: abs(keys[i] - pos))
            if nearest != vp.state.frame_index:
                vp.frame_changed.disconnect()
                vp.set_frame(nearest)
                vp.frame_changed.connect(lambda i, v=vp: self._frame_changed(v, i))

    def _sync_slider(self) -> None:
        vp = self.active
        count = len(vp.frames) if vp else 0
        index = vp.state.frame_index if vp else 0
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(count - 1, 0))
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.frame_label.setText(f"{(index + 1) if count else 0}/{count}")

    def _on_active(self, act: Callable[[Viewport], object]) -> None:
        """``act(viewport)`` on the active viewport, if there is one."""
        if self.active is not None:
            act(self.active)

    def _preset_chosen(self, index: int) -> None:
        if self.active is None or index == 0:
            return
        if index <= len(PRESETS):
            _name, c, w = PRESETS[index - 1]
            self.active.set_window(Window(float(c), float(w)))
        else:
            self.active.set_window(None)
        self.preset_box.setCurrentIndex(0)

    def apply_preset(self, name: str) -> None:
        """Apply a named preset (as listed in PRESETS) to the active viewport."""
        for i, (preset, _c, _w) in enumerate(PRESETS, 1):
            if preset == name:
                self._preset_chosen(i)
                return
        raise KeyError(name)

    def set_cine(self, on: bool) -> None:
        self.cine.stop()
        if on:
            self.cine.start(int(1000 / self.fps.value()))

    def _cine_step(self) -> None:
        vp = self.active
        if vp is None or not vp.frames:
            return
        vp.set_frame((vp.state.frame_index + 1) % len(vp.frames))

    def show_problem(self, message: str) -> None:
        log.warning("viewer: %s", message)
        self.status.setText(message)

    # ------------------------------------------------------------------ calibration
    def _calibrate(self, vp: Viewport, line: Annotation) -> None:
        mm, ok = QInputDialog.getDouble(
            self,
            self.tr("Calibrate"),
            self.tr("Known length of the line in mm:"),
            10.0,
            0.01,
            10000.0,
            2,
        )
        if ok:
            self.apply_calibration(vp, line, mm)

    def apply_calibration(self, vp: Viewport, line: Annotation, mm: float) -> None:
        """Set a manual calibration for the image under ``line`` (recorded as an annotation)."""
        (x0, y0), (x1, y1) = line.points[0], line.points[-1]
        pixels = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
        vp.manual_calibrations[line.sop_instance_uid] = manual_calibration(pixels, mm)
        line.text = f"{mm:g}"
        self.annotations.add(line)
        vp.update()

    # ------------------------------------------------------------------ GSPS
    def _choose_gsps(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, self.tr("Open presentation state"), "", self.tr("DICOM (*.dcm *)")
        )
        if path:
            self.open_gsps(path)

    def _choose_save_gsps(self) -> None:
        if self.active is None or self.active.series is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self,
            self.tr("Save annotations as GSPS"),
            "annotations_PR.dcm",
            self.tr("DICOM (*.dcm)"),
        )
        if path:
            self.save_gsps(path)

    def save_gsps(self, path: str | Path) -> None:
        """Write the active viewport's view and the series' annotations as a GSPS, on a
        worker (``file_written`` then carries the path, or ``problem`` the reason)."""
        vp = self.active
        if vp is None or vp.series is None:
            raise ValueError("no series shown")
        headers = [inst.header for inst in vp.series.instances if inst.is_image]
        sops = {inst.sop_instance_uid for inst in vp.series.instances}
        # A snapshot of the list: edits replace annotations (never change them in place), so
        # the user can go on drawing while the worker writes.
        anns = [a for a in self.annotations.items if a.sop_instance_uid in sops]
        state = ViewState.from_dict(vp.state.to_dict())
        area = None
        if vp._image_size[0]:
            x0, y0, x1, y1 = visible_image_rect(vp.state, vp._image_size, (vp.width(), vp.height()))
            area = (int(round(x0)) + 1, int(round(y0)) + 1, int(round(x1)), int(round(y1)))
        shutter, viewport = vp.overrides.shutter, (vp.width(), vp.height())

        def write() -> object:
            return write_gsps(
                path,
                headers,
                state,
                anns,
                self.author,
                displayed_area=area,
                viewport=viewport,
                shutter=shutter,
            )

        bridge.run_in_worker(
            write,
            on_done=lambda _ds: self._written(Path(path)),
            on_error=lambda e: self.show_problem(
                self.tr("Could not save GSPS: %1").replace("%1", f"{path}: {e}")
            ),
        )

    def _written(self, path: Path) -> None:
        self.status.setText(self.tr("Saved %1").replace("%1", str(path)))
        self.file_written.emit(path)

    def open_gsps(self, path: str | Path) -> GspsContent | None:
        """Apply a presentation state: show its series, restore the view and annotations."""
        try:
            content = read_gsps(path)
        except DicomFileError as exc:
            self.show_problem(viewer_problem_text(exc))
            return None
        target = None
        for _p, _s, series in self.library.all_series():
            if any(i.sop_instance_uid in content.referenced_sop_uids for i in series.instances):
                target = series
                break
        if target is None:
            self.show_problem(
                self.tr("%1: the images this presentation state refers to are not loaded").replace(
                    "%1", str(path)
                )
            )
            return None
        known = {a.id for a in self.annotations.items}
        for ann in content.annotations:
            if ann.id not in known:
                self.annotations.add(ann)
        state = ViewState.from_dict(content.state.to_dict())
        vp = self.active or self.viewports[0]
        self.open_series(target, vp, state)
        vp.overrides = PresentationOverrides(
            inverse=content.inverse and not state.invert, shutter=content.shutter
        )
        for ann in content.annotations:
            if ann.kind == "calibration" and ann.text:
                try:
                    (x0, y0), (x1, y1) = ann.points[0], ann.points[-1]
                    vp.manual_calibrations[ann.sop_instance_uid] = manual_calibration(
                        ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, float(ann.text)
                    )
                except ValueError:
                    pass
        if state.zoom is None and content.displayed_area is not None and vp._image_size[0]:
            x0, y0, x1, y1 = content.displayed_area
            if (x1 - x0 + 1, y1 - y0 + 1) != vp._image_size:
                state.center = ((x0 - 1 + x1) / 2, (y0 - 1 + y1) / 2)
                state.zoom = fit_zoom(
                    (x1 - x0 + 1, y1 - y0 + 1), (vp.width(), vp.height()), state.rotation
                )
        vp.render_view()
        self._sync_slider()
        return content

    # ------------------------------------------------------------------ export
    def _choose_export(self) -> None:
        if (self.active is None or self.active.series is None) and (
            self.stack.currentWidget() is not self.mpr_view
        ):
            return
        path, _ = QFileDialog.getSaveFileName(
            self, self.tr("Export image"), "view.png", self.tr("Images (*.png *.jpg)")
        )
        if not path:
            return
        choice = QMessageBox.question(
            self, self.tr("Export image"), self.tr("Include annotations and patient text?")
        )
        self.export_image(path, overlays=choice == QMessageBox.StandardButton.Yes)

    def export_image(self, path: str | Path, overlays: bool = True) -> None:
        """PNG/JPEG of the active view, as shown (with overlays) or pixels only. The pixels
        are taken here; encoding and writing the file happen on a worker (``file_written``)."""
        if self.stack.currentWidget() is self.mpr_view:
            image = self.mpr_view.export_pixels(overlays)
        else:
            vp = self.active
            if vp is None or vp.current is None or vp._stored is None:
                return
            if overlays:
                image = vp.grab().toImage()
            else:
                ref = vp.current
                img = display_pixels(
                    ref.instance.header, ref.frame, vp._stored, vp.state, vp.overrides
                )
                image = to_viewport(img, vp.state, (vp.width(), vp.height()))
        bridge.run_in_worker(
            save_image,
            image,
            Path(path),
            on_done=lambda _r: self._written(Path(path)),
            on_error=lambda e: self.show_problem(
                self.tr("Could not export: %1").replace("%1", f"{path}: {e}")
            ),
        )

    def _choose_anonymize(self) -> None:
        if self.active is None or self.active.series is None:
            return
        folder = QFileDialog.getExistingDirectory(self, self.tr("Folder for the anonymized copy"))
        if folder:
            self.anonymize_series(folder)

    def anonymize_series(self, folder: str | Path) -> None:
        series = self.active.series if self.active is not None else None
        if series is None:
            return
        paths = [inst.path for inst in series.instances]

        def work() -> int:
            anon = Anonymizer()
            for i, p in enumerate(paths):
                anonymize_file(p, Path(folder) / f"IM{i + 1:05d}.dcm", anon)
            return len(paths)

        bridge.run_in_worker(
            work,
            on_done=lambda n: self.status.setText(
                self.tr("Anonymized copy written: %1 file(s)").replace("%1", str(n))
            ),
            on_error=lambda e: self.show_problem(viewer_problem_text(e)),
        )

    def shutdown(self) -> None:
        """Stop cine, background decoding (threads and worker processes) and the library."""
        self.cine.stop()
        self.preloader.shutdown()
        self.source.shutdown()
        self.library.close()
