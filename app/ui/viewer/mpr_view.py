"""Multiplanar reformatting: axial, coronal and sagittal side by side, linked crosshairs.

The volume is built on a worker from the frames the loader already decoded; every plane is
resliced, windowed and fitted on a worker too ("latest wins": while one is being rendered,
further changes only mark it for one more pass). The panes render and forward events; the
state machine is ``app.dicom_viewer.mpr.MprState``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRect, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.dicom_viewer.corners import CornerText, layout_corners
from app.dicom_viewer.index import Series, display_name
from app.dicom_viewer.loader import FrameSource
from app.dicom_viewer.measurements import length
from app.dicom_viewer.mpr import (
    PLANES,
    MprState,
    RenderedPlane,
    default_window,
    render_plane,
    snapshot,
)
from app.dicom_viewer.pipeline import Window
from app.dicom_viewer.volume import NotAVolume, Volume, build_volume
from app.ui import bridge
from app.ui.viewer.problem_words import viewer_problem_text

PLANE_COLOURS = {
    "axial": QColor(255, 90, 90),
    "coronal": QColor(90, 220, 90),
    "sagittal": QColor(90, 160, 255),
}
WHITE = QColor(255, 255, 255)


@dataclass
class MprMeasurement:
    """A length drawn in one plane, kept as two points in volume millimetres."""

    plane: str
    a: np.ndarray
    b: np.ndarray

    @property
    def mm(self) -> float:
        return float(np.linalg.norm(self.b - self.a))


class MprPane(QWidget):
    """One plane: image, crosshair lines of the other planes, corner text, measurements."""

    activated = Signal()

    def __init__(self, view: MprView, plane: str) -> None:
        super().__init__(view)
        self.view = view
        self.plane = plane
        self.setMinimumSize(160, 160)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.rendered: RenderedPlane | None = None
        self._qimage: QImage | None = None
        self._drag: dict | None = None
        self.draft: MprMeasurement | None = None

    # ------------------------------------------------------------------ geometry
    def set_rendered(self, rendered: RenderedPlane) -> None:
        self.rendered = rendered
        rgb = np.ascontiguousarray(rendered.rgb)
        self._rgb = rgb  # QImage shares the buffer
        h, w = rgb.shape[:2]
        if rgb.ndim == 2:
            self._qimage = QImage(rgb.data, w, h, w, QImage.Format.Format_Grayscale8)
        else:
            self._qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self.update()

    def to_view(self, point_mm: np.ndarray) -> QPointF:
        assert self.rendered is not None
        x, y = self.rendered.image.to_image(point_mm)
        vx, vy, _ = self.rendered.matrix @ np.array([x, y, 1.0])
        return QPointF(float(vx), float(vy))

    def to_volume(self, pos: QPointF) -> np.ndarray:
        assert self.rendered is not None
        x, y, _ = np.linalg.inv(self.rendered.matrix) @ np.array([pos.x(), pos.y(), 1.0])
        return self.rendered.image.to_volume(float(x), float(y))

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        self.view.request(self.plane)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event) -> None:  # noqa: ANN001, N802
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.black)
        state = self.view.state
        if self._qimage is not None and state is not None and self.rendered is not None:
            p.drawImage(0, 0, self._qimage)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._paint_crosshair(p, state)
            self._paint_measurements(p)
            self._paint_corners(p)
        p.setPen(QPen(PLANE_COLOURS[self.plane], 2 if self.view.active is self else 1))
        p.drawRect(self.rect().adjusted(1, 1, -1, -1))
        p.end()

    def _paint_crosshair(self, p: QPainter, state: MprState) -> None:
        assert self.rendered is not None
        centre = self.to_view(state.point)
        m = self.rendered.matrix[:2, :2]
        reach = float(self.width() + self.height())
        for other, (dx, dy) in state.crosshair_lines(self.plane).items():
            vx, vy = m @ np.array([dx, dy])
            norm = math.hypot(vx, vy) or 1.0
            vx, vy = vx / norm * reach, vy / norm * reach
            p.setPen(QPen(PLANE_COLOURS[other], 1))
            p.drawLine(
                QPointF(centre.x() - vx, centre.y() - vy), QPointF(centre.x() + vx, centre.y() + vy)
            )

    def _paint_measurements(self, p: QPainter) -> None:
        assert self.rendered is not None
        items = [m for m in self.view.measurements if m.plane == self.plane]
        if self.draft is not None:
            items.append(self.draft)
        state = self.view.state
        assert state is not None
        n = state.normal(self.plane)
        tolerance = state.step_mm(self.plane) / 2
        for m in items:
            if abs((m.a - state.point) @ n) > tolerance:
                continue  # drawn on another slice of this plane
            a, b = self.to_view(m.a), self.to_view(m.b)
            p.setPen(QPen(QColor(255, 220, 0), 1.5))
            p.drawLine(a, b)
            p.drawText(QPointF(b.x() + 6, b.y() + 4), f"{self.measure_mm(m):.2f} mm")

    def measure_mm(self, m: MprMeasurement) -> float:
        """Length in mm through the plane image's calibration (square reformatted pixels)."""
        assert self.rendered is not None
        image = self.rendered.image
        return length(image.to_image(m.a), image.to_image(m.b), image.calibration)

    def _paint_corners(self, p: QPainter) -> None:
        assert self.rendered is not None
        font = QFont(self.font())
        font.setPointSizeF(9.0)
        p.setFont(font)
        metrics = QFontMetricsF(font)
        lines = layout_corners(
            self.view.corner_text(self.plane, self.rendered),
            self.width() - 12,
            self.height() - 8,
            metrics.horizontalAdvance,
            metrics.lineSpacing(),
            margin=0,
        )
        r = self.rect().adjusted(6, 4, -6, -4)
        flags = Qt.AlignmentFlag
        for name, align in (
            ("top_left", flags.AlignLeft | flags.AlignTop),
            ("top_right", flags.AlignRight | flags.AlignTop),
            ("bottom_left", flags.AlignLeft | flags.AlignBottom),
            ("bottom_right", flags.AlignRight | flags.AlignBottom),
        ):
            text = "\n".join(lines[name])
            p.setPen(QColor(0, 0, 0))
            p.drawText(r.translated(1, 1), align, text)
            p.setPen(WHITE)
            p.drawText(r, align, text)

    # ------------------------------------------------------------------ interaction
    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        self.activated.emit()
        self.setFocus()
        if self.rendered is None or self.view.state is None:
            return
        pos = e.position()
        self._drag = {"button": e.button(), "last": pos}
        if e.button() != Qt.MouseButton.LeftButton:
            return
        tool = self.view.tool
        if tool == "crosshair":
            self.view.move_crosshair(self.to_volume(pos))
        elif tool == "length":
            point = self.to_volume(pos)
            self.draft = MprMeasurement(self.plane, point, point.copy())
        elif tool == "rotate":
            centre = self.to_view(self.view.state.point)
            self._drag["angle"] = math.atan2(pos.y() - centre.y(), pos.x() - centre.x())

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None or self.rendered is None or self.view.state is None:
            return
        pos = e.position()
        last = self._drag["last"]
        self._drag["last"] = pos
        if self._drag["button"] == Qt.MouseButton.RightButton:
            self.view.adjust_window(pos.x() - last.x(), pos.y() - last.y())
            return
        tool = self.view.tool
        if tool == "crosshair":
            self.view.move_crosshair(self.to_volume(pos))
        elif tool == "length" and self.draft is not None:
            self.draft.b = self.to_volume(pos)
            self.update()
        elif tool == "rotate" and "angle" in self._drag:
            centre = self.to_view(self.view.state.point)
            angle = math.atan2(pos.y() - centre.y(), pos.x() - centre.x())
            delta = math.degrees(angle - self._drag["angle"])
            self._drag["angle"] = angle
            self.view.rotate(self.plane, (delta + 180) % 360 - 180)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self.draft is not None:
            if np.linalg.norm(self.draft.b - self.draft.a) > 0:
                self.view.measurements.append(self.draft)
            self.draft = None
            self.update()
        self._drag = None

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802
        steps = e.angleDelta().y() / 120.0
        if steps:
            self.view.scroll_plane(
                self.plane, -int(math.copysign(max(1, abs(round(steps))), steps))
            )

    def keyPressEvent(self, e) -> None:  # noqa: ANN001, N802
        moves = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1, Qt.Key.Key_PageUp: -10}
        moves[Qt.Key.Key_PageDown] = 10
        if e.key() in moves:
            self.view.scroll_plane(self.plane, moves[e.key()])
        else:
            super().keyPressEvent(e)


class MprView(QWidget):
    """Three planes side by side with a shared crosshair, window and slab."""

    closed = Signal()
    problem = Signal(str)
    ready = Signal()
    rendered = Signal(str)  # a plane's new image is on screen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.volume: Volume | None = None
        self.state: MprState | None = None
        self.series: Series | None = None
        self.tool = "crosshair"
        self.measurements: list[MprMeasurement] = []
        self._busy: dict[str, bool] = {p: False for p in PLANES}
        self._dirty: dict[str, bool] = {p: False for p in PLANES}
        self._generation = 0
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        back = QPushButton(self.tr("Back to the stack"))
        back.clicked.connect(self.closed.emit)
        bar.addWidget(back)
        self.tool_box = QComboBox()
        self._tools = ["crosshair", "rotate", "length"]
        self.tool_box.addItems([self.tr("Crosshair"), self.tr("Rotate planes"), self.tr("Length")])
        self.tool_box.currentIndexChanged.connect(lambda i: setattr(self, "tool", self._tools[i]))
        bar.addWidget(self.tool_box)
        self.slab_box = QComboBox()
        self._modes = ["thin", "mip", "minip", "average"]
        self.slab_box.addItems(
            [self.tr("Thin"), self.tr("MIP"), self.tr("MinIP"), self.tr("Average")]
        )
        self.slab_box.setToolTip(self.tr("Thick slab"))
        self.slab_box.currentIndexChanged.connect(lambda _i: self._slab_changed())
        bar.addWidget(self.slab_box)
        self.slab_mm = QDoubleSpinBox()
        self.slab_mm.setRange(1.0, 100.0)
        self.slab_mm.setValue(10.0)
        self.slab_mm.setSuffix(self.tr(" mm"))
        self.slab_mm.setToolTip(self.tr("Slab thickness"))
        self.slab_mm.valueChanged.connect(lambda _v: self._slab_changed())
        bar.addWidget(self.slab_mm)
        reset = QPushButton(self.tr("Reset planes"))
        reset.clicked.connect(self.reset_planes)
        bar.addWidget(reset)
        bar.addStretch(1)
        outer.addLayout(bar)
        self.message = QLabel()
        self.message.setWordWrap(True)
        outer.addWidget(self.message)
        row = QHBoxLayout()
        row.setSpacing(2)
        self.panes = {p: MprPane(self, p) for p in PLANES}
        for pane in self.panes.values():
            pane.activated.connect(lambda pane=pane: self._activate(pane))
            row.addWidget(pane, 1)
        outer.addLayout(row, 1)
        self.active: MprPane | None = self.panes["axial"]

    def plane_names(self) -> dict[str, str]:
        return {
            "axial": self.tr("Axial"),
            "coronal": self.tr("Coronal"),
            "sagittal": self.tr("Sagittal"),
        }

    # ------------------------------------------------------------------ opening
    def open_series(self, series: Series, source: FrameSource) -> None:
        """Build the volume on a worker from the frames (decoded or cached); then show it."""
        self.series = series
        self.volume = self.state = None
        self.measurements = []
        self._generation += 1
        generation = self._generation
        for pane in self.panes.values():
            pane.rendered = pane._qimage = None
            pane.update()
        self.message.setText(self.tr("Building the volume…"))
        bridge.run_in_worker(
            build_volume,
            list(series.frames),
            source.get,
            on_done=lambda v: self._built(generation, v),
            on_error=lambda e: self._failed(generation, e),
        )

    def _built(self, generation: int, volume: Volume) -> None:
        if generation != self._generation:
            return
        self.volume = volume
        self.state = MprState(volume.geometry, window=default_window(volume))
        self.message.setText("")
        self.request_all()
        self.ready.emit()

    def _failed(self, generation: int, error: BaseException) -> None:
        if generation != self._generation:
            return
        if isinstance(error, NotAVolume):
            text = self.tr("This series cannot be reformatted: %1").replace(
                "%1", self.reason(error)
            )
        else:
            text = self.tr("Reformatting failed: %1").replace("%1", viewer_problem_text(error))
        self.message.setText(text)
        self.problem.emit(text)

    def reason(self, error: NotAVolume) -> str:
        """Why a series is no volume, in the user's language."""
        texts = {
            "too_few": self.tr("only %1 image(s): a volume needs at least %2"),
            "colour": self.tr("colour images are not reformatted"),
            "no_orientation": self.tr("the images carry no orientation"),
            "no_spacing": self.tr("the images carry no pixel spacing"),
            "no_position": self.tr("image %1 has no position"),
            "orientation": self.tr("image %1 is oriented differently from the first"),
            "size": self.tr("image %1 has a different size from the first"),
            "pixel_spacing": self.tr("image %1 has a different pixel spacing from the first"),
            "order": self.tr("the slices are not in position order"),
            "duplicate": self.tr("two slices share a position (duplicates or several stacks)"),
            "tilt": self.tr("gantry tilt of about %1°: the slices are sheared"),
            "missing": self.tr("%1 slice(s) missing (a gap of %2 mm where slices are %3 mm apart)"),
            "varying": self.tr("slice spacing varies from %1 to %2 mm"),
            "cancelled": self.tr("cancelled"),
            "decoded_size": self.tr("image %1 decoded to an unexpected size"),
        }
        text = texts.get(error.code)
        if text is None:
            return str(error)
        for i, value in enumerate(error.values, 1):
            text = text.replace(f"%{i}", str(value))
        return text

    # ------------------------------------------------------------------ rendering
    def request_all(self) -> None:
        for plane in PLANES:
            self.request(plane)

    def request(self, plane: str) -> None:
        """Render ``plane`` on a worker; while one is under way, just mark it for later."""
        if self.volume is None or self.state is None:
            return
        if self._busy[plane]:
            self._dirty[plane] = True
            return
        pane = self.panes[plane]
        size = (max(pane.width(), 16), max(pane.height(), 16))
        self._busy[plane] = True
        self._dirty[plane] = False
        generation = self._generation
        bridge.run_in_worker(
            render_plane,
            self.volume,
            snapshot(self.state),
            plane,
            size,
            on_done=lambda r: self._rendered(generation, plane, r),
            on_error=lambda e: self._render_failed(generation, plane, e),
        )

    def _rendered(self, generation: int, plane: str, rendered: RenderedPlane) -> None:
        self._busy[plane] = False
        if generation != self._generation:
            return
        self.panes[plane].set_rendered(rendered)
        for other in PLANES:  # their crosshair lines follow the point
            self.panes[other].update()
        self.rendered.emit(plane)
        if self._dirty[plane]:
            self.request(plane)

    def _render_failed(self, generation: int, plane: str, error: BaseException) -> None:
        self._busy[plane] = False
        if generation == self._generation:
            self.problem.emit(viewer_problem_text(error))

    @property
    def idle(self) -> bool:
        """No plane being rendered or waiting for another pass (tests, benchmarks)."""
        return not any(self._busy.values()) and not any(self._dirty.values())

    # ------------------------------------------------------------------ operations
    def _activate(self, pane: MprPane) -> None:
        self.active = pane
        for p in self.panes.values():
            p.update()

    def move_crosshair(self, point_mm: np.ndarray) -> None:
        if self.state is None:
            return
        self.state.move_to(point_mm)
        self.request_all()

    def scroll_plane(self, plane: str, steps: int) -> None:
        """Scroll one plane; the others only redraw their crosshair lines."""
        if self.state is None:
            return
        self.state.scroll(plane, steps)
        self.request(plane)
        for other in PLANES:
            if other != plane:
                self.panes[other].update()

    def rotate(self, plane: str, degrees: float) -> None:
        if self.state is None or not degrees:
            return
        self.state.rotate(plane, degrees)
        for other in PLANES:
            if other != plane:
                self.request(other)
        self.panes[plane].update()

    def reset_planes(self) -> None:
        if self.state is not None:
            self.state.reset_axes()
            self.request_all()

    def set_window(self, window: Window) -> None:
        """The window is shared by the three planes."""
        if self.state is not None:
            self.state.window = window
            self.request_all()

    def adjust_window(self, dx: float, dy: float) -> None:
        if self.state is None or self.volume is None:
            return
        win = self.state.window or default_window(self.volume)
        step = max(win.width / 256.0, 0.5)
        self.set_window(Window(win.center + dy * step, max(1.0, win.width + dx * step)))

    def _slab_changed(self) -> None:
        if self.state is None:
            return
        mode = self._modes[self.slab_box.currentIndex()]
        self.state.slab_mm = 0.0 if mode == "thin" else float(self.slab_mm.value())
        self.state.slab_mode = mode if mode != "thin" else "mip"
        self.request_all()

    # ------------------------------------------------------------------ text
    def corner_text(self, plane: str, rendered: RenderedPlane) -> CornerText:
        """Patient identity, plane and slab, window, pixel size: what each pane shows."""
        ct = CornerText()
        header = self.series.frames[0].instance.header if self.series else None
        if header is not None:
            id_label = self.tr("ID")  # lupdate does not look inside f-strings
            ct.top_left = [
                display_name(header.get("PatientName")),
                f"{id_label}: {header.get('PatientID', '')}",
            ]
        state = self.state
        assert state is not None
        label = self.plane_names()[plane]
        if self._is_oblique(plane):
            label = self.tr("%1 (oblique)").replace("%1", label)
        ct.top_right = [label]
        if state.slab_mm > 0:
            mode = {"mip": self.tr("MIP"), "minip": self.tr("MinIP"), "average": self.tr("Average")}
            mm = self.tr("mm")
            ct.top_right.append(f"{mode[state.slab_mode]} {state.slab_mm:g} {mm}")
        win = state.window
        if win is not None:
            w, lv = self.tr("W"), self.tr("L")
            ct.bottom_left = [f"{w}: {win.width:g} {lv}: {win.center:g}"]
        image = rendered.image
        size = (
            f"{image.col_mm:.2f}"
            if abs(image.col_mm - image.row_mm) < 1e-6
            else f"{image.col_mm:.2f} × {image.row_mm:.2f}"
        )
        ct.bottom_right = [self.tr("Pixel %1 mm (reformatted)").replace("%1", size)]
        return ct

    def _is_oblique(self, plane: str) -> bool:
        assert self.state is not None
        u, v = self.state.axes[plane]
        return not (np.max(np.abs(u)) > 1 - 1e-9 and np.max(np.abs(v)) > 1 - 1e-9)

    def export_pixels(self, overlays: bool = True) -> QImage | np.ndarray:
        """The active plane as shown (crosshair and text included) or its pixels only."""
        pane = self.active or self.panes["axial"]
        if overlays or pane.rendered is None:
            return pane.grab().toImage()
        return pane.rendered.rgb.copy()

    def pane_rect(self, plane: str) -> QRect:
        return self.panes[plane].geometry()
