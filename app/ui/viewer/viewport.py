"""One image viewport: shows a series frame through the shared pipeline, and handles
stack scroll, W/L (right-drag), pan (middle-drag), zoom (Ctrl+wheel) and the drawing tools.

Decoding never happens here: frames come from the FrameSource cache, or are requested from
the decode pool and arrive back on the GUI thread ("latest wins").
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QInputDialog, QWidget

from app.dicom_viewer.annotations import CLOSED_KINDS, Annotation, AnnotationSet, describe
from app.dicom_viewer.calibration import Calibration, calibration_for
from app.dicom_viewer.corners import CornerText, corner_text, layout_corners, scale_bar_mm
from app.dicom_viewer.errors import DicomFileError
from app.dicom_viewer.frames import frame_header
from app.dicom_viewer.index import FrameRef, Series
from app.dicom_viewer.loader import FrameSource
from app.dicom_viewer.pipeline import Window, is_color, min_max_window, modality_values
from app.dicom_viewer.render import (
    PresentationOverrides,
    default_window,
    render_checked,
    to_viewport,
)
from app.dicom_viewer.shutters import Shutter, rectangle_from_points
from app.dicom_viewer.view_state import (
    ViewState,
    effective_zoom,
    image_to_viewport,
    viewport_to_image,
)
from app.ui import bridge
from app.ui.viewer.problem_words import viewer_problem_text

log = logging.getLogger(__name__)

TWO_POINT = ("length", "ellipse", "rectangle", "arrow", "calibration")
YELLOW, SELECTED, WHITE = QColor(255, 220, 0), QColor(0, 200, 255), QColor(255, 255, 255)


class Viewport(QWidget):
    """Displays one series; emits when the frame or view changes."""

    frame_changed = Signal(int)
    view_changed = Signal()
    activated = Signal()
    problem = Signal(str)  # a message naming the file and the problem
    calibration_requested = Signal(object)  # the calibration line (Annotation)

    def __init__(
        self,
        source: FrameSource,
        annotations: AnnotationSet,
        author: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setMinimumSize(160, 160)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(False)
        self.source = source
        self.annotations = annotations
        self.author = author
        self.series: Series | None = None
        self.state = ViewState()
        self.overrides = PresentationOverrides()
        self.tool = "wl"
        self.active = False
        self.manual_calibrations: dict[str, Calibration] = {}
        self.smooth = True
        # Larger corner text (Windows "make text bigger", 100–200 %): the layout adapts.
        self.text_scale = 1.0
        self._qimage: QImage | None = None
        self._image_size = (0, 0)
        self._stored: np.ndarray | None = None
        self._shown: FrameRef | None = None
        self._pending: tuple[str, int] | None = None
        self._drag: dict | None = None
        self._draft: Annotation | None = None
        self.selected_id: str | None = None
        self._label_cache: dict[tuple, str] = {}
        self._values_cache: tuple[tuple, np.ndarray] | None = None
        self.annotations.listeners.append(self.update)
        # Co-viewing (app/ui/viewer/coview_link.py): a colour per author, and the
        # presenter's laser dot (sop, x, y in image pixels) drawn over the image.
        self.author_colours: dict[str, str] = {}
        self.laser: tuple[str, float, float] | None = None

    # ------------------------------------------------------------------ series and frames
    @property
    def frames(self) -> list[FrameRef]:
        return self.series.frames if self.series else []

    @property
    def current(self) -> FrameRef | None:
        frames = self.frames
        return frames[self.state.frame_index] if frames else None

    def set_series(self, series: Series | None, state: ViewState | None = None) -> None:
        self.series = series
        self.state = state or ViewState()
        self.overrides = PresentationOverrides()
        self._stored = None
        self._qimage = None
        self.selected_id = None
        if series is not None and self.frames:
            self.state.frame_index = min(max(self.state.frame_index, 0), len(self.frames) - 1)
            self.refresh_frame()
        self.update()

    def set_shutter(self, shutter: Shutter | None) -> None:
        """Show the image through a display shutter (None: no shutter); saved with GSPS."""
        self.overrides = replace(self.overrides, shutter=shutter)
        self.render_view()

    def relocate(self) -> None:
        """Keep showing the same image after the series grew (import still running)."""
        if self._shown is None or not self.frames:
            return
        frames = self.frames
        if self.state.frame_index < len(frames) and frames[self.state.frame_index] == self._shown:
            return
        for i, ref in enumerate(frames):
            if ref == self._shown:
                self.state.frame_index = i
                self.frame_changed.emit(i)
                self.update()
                return

    def set_frame(self, index: int) -> None:
        if not self.frames:
            return
        index = min(max(index, 0), len(self.frames) - 1)
        if index == self.state.frame_index and self._stored is not None:
            return
        self.state.frame_index = index
        self.refresh_frame()
        self.frame_changed.emit(index)

    def scroll_frames(self, delta: int) -> None:
        """Move ``delta`` frames (clamped); not QWidget.scroll, which moves pixels."""
        self.set_frame(self.state.frame_index + delta)

    def refresh_frame(self) -> None:
        """Show the current frame: from the cache now, or once the decode pool has it."""
        ref = self.current
        if ref is None:
            return
        self.source.pin([ref], owner=self)
        arr = self.source.cached(ref)
        if arr is not None:
            self._stored = arr
            self._render()
            return
        key = (str(ref.instance.path), ref.frame)
        self._pending = key
        bridge.run_in_worker(
            self.source.get,
            ref,
            on_done=functools.partial(self._decoded, key),
            on_error=functools.partial(self._failed, key),
        )

    def _decoded(self, key: tuple[str, int], arr: np.ndarray) -> None:
        ref = self.current
        if ref is None or (str(ref.instance.path), ref.frame) != key:
            return  # the user moved on; a newer request will show its own frame
        self._stored = arr
        self._render()

    def _failed(self, key: tuple[str, int], error: BaseException) -> None:
        self._stored = None
        self._qimage = None
        self.problem.emit(viewer_problem_text(error))
        self.update()

    # ------------------------------------------------------------------ rendering
    def header(self):  # noqa: ANN201 - pydicom Dataset
        ref = self.current
        return frame_header(ref.instance.header, ref.frame) if ref else None

    def shown_window(self) -> Window | None:
        fh = self.header()
        if fh is None or is_color(fh):
            return None
        return (
            self.state.window
            or default_window(fh)
            or (
                min_max_window(modality_values(fh, self._stored))
                if self._stored is not None
                else None
            )
        )

    def _render(self) -> None:
        ref = self.current
        if ref is None or self._stored is None or self.width() < 2:
            self.update()
            return
        try:
            img = render_checked(
                str(ref.instance.path),
                ref.instance.header,
                ref.frame,
                self._stored,
                self.state,
                self.overrides,
            )
        except DicomFileError as exc:
            self._qimage = None
            self.problem.emit(viewer_problem_text(exc))
            self.update()
            return
        self._image_size = (img.shape[1], img.shape[0])
        self._shown = ref
        rgb = to_viewport(img, self.state, (self.width(), self.height()), self.smooth)
        self._rgb = np.ascontiguousarray(rgb)  # keep alive: QImage shares the buffer
        h, w = rgb.shape[:2]
        self._qimage = QImage(self._rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self.update()

    def render_view(self) -> None:
        """Re-render after a view change (W/L, zoom, rotation...)."""
        self._render()
        self.view_changed.emit()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        self._render()

    def matrix(self) -> np.ndarray:
        return image_to_viewport(self.state, self._image_size, (self.width(), self.height()))

    def to_image(self, pos: QPointF) -> tuple[float, float]:
        return viewport_to_image(
            self.state, self._image_size, (self.width(), self.height()), (pos.x(), pos.y())
        )

    def to_view(self, p: tuple[float, float]) -> QPointF:
        x, y, _ = self.matrix() @ np.array([p[0], p[1], 1.0])
        return QPointF(float(x), float(y))

    def calibration(self) -> Calibration:
        ref = self.current
        if ref is None:
            return Calibration(None, None, "uncalibrated")
        manual = self.manual_calibrations.get(ref.instance.sop_instance_uid)
        return manual or calibration_for(self.header())

    def modality_frame(self) -> np.ndarray | None:
        ref = self.current
        if ref is None or self._stored is None:
            return None
        key = (str(ref.instance.path), ref.frame)
        if self._values_cache is None or self._values_cache[0] != key:
            self._values_cache = (key, modality_values(self.header(), self._stored))
        return self._values_cache[1]

    def label_for(self, ann: Annotation) -> str:
        cal = self.calibration()
        key = (ann.id, tuple(ann.points), ann.text, cal)
        if key not in self._label_cache:
            unit = "HU" if str(self.header().get("Modality", "")) == "CT" else ""
            values = self.modality_frame() if ann.kind in CLOSED_KINDS else None
            self._label_cache[key] = describe(ann, cal, values, unit)
        return self._label_cache[key]

    def corner_info(self) -> CornerText | None:
        ref = self.current
        if ref is None or not self._image_size[0]:
            return None
        zoom = effective_zoom(self.state, self._image_size, (self.width(), self.height()))
        info = corner_text(
            ref.instance.header,
            ref.frame,
            self.state.frame_index,
            len(self.frames),
            self.state,
            self.shown_window(),
            zoom,
            self._image_size,
            (self.width(), self.height()),
            self._labels(),
        )
        cal = self.calibration()
        info.calibrated = cal.calibrated
        if not cal.calibrated:
            info.calibration_note = self.tr("UNCALIBRATED: measurements in pixels")
        elif cal.qualifier or cal.source not in ("PixelSpacing", "manual"):
            info.calibration_note = self.tr("Calibration: %1").replace("%1", cal.source)
        else:
            info.calibration_note = ""
        return info

    def corner_lines(self, font: QFont | None = None) -> dict[str, list[str]]:
        """The corner lines laid out for this viewport's size and font (none overlap)."""
        info = self.corner_info()
        if info is None:
            return {}
        metrics = QFontMetricsF(font or self._corner_font())
        return layout_corners(
            info,
            self.width() - 12,
            self.height() - 8,
            metrics.horizontalAdvance,
            metrics.lineSpacing(),
            margin=0,
        )

    def _corner_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(9.0 * self.text_scale)
        return font

    def _labels(self) -> dict[str, str]:
        return {
            "id": self.tr("ID"),
            "series": self.tr("Se"),
            "image": self.tr("Im"),
            "width": self.tr("W"),
            "level": self.tr("L"),
            "zoom": self.tr("Zoom"),
            "location": self.tr("Loc"),
            "thickness": self.tr("Thick"),
        }

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event) -> None:  # noqa: ANN001, N802
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.black)
        if self._qimage is not None:
            p.drawImage(0, 0, self._qimage)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._paint_annotations(p)
            self._paint_laser(p)
            self._paint_corners(p)
        elif self.series is not None:
            p.setPen(WHITE)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.tr("Loading…"))
        if self.active:
            p.setPen(QPen(QColor(0, 160, 255), 2))
            p.drawRect(self.rect().adjusted(1, 1, -1, -1))
        p.end()

    def _paint_annotations(self, p: QPainter) -> None:
        ref = self.current
        if ref is None:
            return
        items = self.annotations.for_image(ref.instance.sop_instance_uid, ref.frame)
        if self._draft is not None:
            items = [*items, self._draft]
        font = QFont(self.font())
        font.setPointSize(9)
        p.setFont(font)
        for ann in items:
            own = self.author_colours.get(ann.author)
            colour = SELECTED if ann.id == self.selected_id else QColor(own) if own else YELLOW
            p.setPen(QPen(colour, 1.5))
            pts = [self.to_view(q) for q in ann.outline()]
            if len(pts) >= 2:
                p.drawPolyline(QPolygonF(pts))
            if ann.kind == "arrow" and len(ann.points) >= 2:
                self._arrow_head(p, pts[0], pts[1])
            if ann.id == self.selected_id:
                for q in ann.points:
                    v = self.to_view(q)
                    p.drawRect(QRectF(v.x() - 3, v.y() - 3, 6, 6))
            label = ann.text if ann.kind in ("text", "arrow") else self.label_for(ann)
            if ann.kind == "calibration":
                label = self.tr("calibration: %1 mm").replace("%1", ann.text or "?")
            if label and pts:
                anchor = pts[0] if ann.kind in ("text", "arrow") else pts[-1]
                _text(
                    p,
                    QRectF(anchor.x() + 6, anchor.y() + 4, 260, 80).toRect(),
                    Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                    label,
                    colour,
                )

    def _paint_laser(self, p: QPainter) -> None:
        ref = self.current
        if self.laser is None or ref is None or ref.instance.sop_instance_uid != self.laser[0]:
            return
        c = self.to_view((self.laser[1], self.laser[2]))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(255, 40, 40, 90))
        p.drawEllipse(c, 11.0, 11.0)
        p.setBrush(QColor(255, 30, 30))
        p.drawEllipse(c, 4.5, 4.5)
        p.setBrush(Qt.BrushStyle.NoBrush)

    @staticmethod
    def _arrow_head(p: QPainter, tip: QPointF, tail: QPointF) -> None:
        angle = math.atan2(tail.y() - tip.y(), tail.x() - tip.x())
        for da in (0.4, -0.4):
            end = QPointF(tip.x() + 12 * math.cos(angle + da), tip.y() + 12 * math.sin(angle + da))
            p.drawLine(tip, end)

    def _paint_corners(self, p: QPainter) -> None:
        info = self.corner_info()
        if info is None:
            return
        font = self._corner_font()
        p.setFont(font)
        r = self.rect().adjusted(6, 4, -6, -4)
        flags = Qt.AlignmentFlag
        lines = self.corner_lines(font)
        _text(p, r, flags.AlignLeft | flags.AlignTop, "\n".join(lines["top_left"]))
        _text(p, r, flags.AlignRight | flags.AlignTop, "\n".join(lines["top_right"]))
        _text(p, r, flags.AlignLeft | flags.AlignBottom, "\n".join(lines["bottom_left"]))
        _text(
            p,
            r,
            flags.AlignRight | flags.AlignBottom,
            "\n".join(lines["bottom_right"]),
            QColor(255, 200, 80) if not info.calibrated else WHITE,
        )
        for side, text in info.markers.items():
            align = {
                "left": flags.AlignLeft | flags.AlignVCenter,
                "right": flags.AlignRight | flags.AlignVCenter,
                "top": flags.AlignHCenter | flags.AlignTop,
                "bottom": flags.AlignHCenter | flags.AlignBottom,
            }[side]
            _text(
                p,
                r.adjusted(0, 18 if side == "top" else 0, 0, -18 if side == "bottom" else 0),
                align,
                text,
            )
        if info.lossy:
            font.setBold(True)
            font.setPointSize(12)
            p.setFont(font)
            _text(p, r, flags.AlignHCenter | flags.AlignTop, self.tr("LOSSY"), QColor(255, 60, 60))
        cal = self.calibration()
        if cal.calibrated and cal.col_mm:
            zoom = effective_zoom(self.state, self._image_size, (self.width(), self.height()))
            mm, px = scale_bar_mm(zoom, float(cal.col_mm), self.width())
            y = self.height() - 70
            x0 = (self.width() - px) / 2
            for pen, d in ((QPen(Qt.GlobalColor.black, 4), 0.0), (QPen(WHITE, 2), 0.0)):
                p.setPen(pen)
                p.drawLine(QPointF(x0, y + d), QPointF(x0 + px, y + d))
                p.drawLine(QPointF(x0, y - 4), QPointF(x0, y + 4))
                p.drawLine(QPointF(x0 + px, y - 4), QPointF(x0 + px, y + 4))
            p.setFont(QFont(self.font()))
            _text(p, QRectF(x0, y + 2, px, 16).toRect(), flags.AlignHCenter, f"{mm:g} mm")

    # ------------------------------------------------------------------ interaction
    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        self.activated.emit()
        self.setFocus()
        if self._qimage is None:
            return
        pos = e.position()
        button = e.button()
        self._drag = {
            "start": pos,
            "last": pos,
            "button": button,
            "state": ViewState.from_dict(self.state.to_dict()),
        }
        if button == Qt.MouseButton.RightButton or button == Qt.MouseButton.MiddleButton:
            return
        if button != Qt.MouseButton.LeftButton:
            return
        ref = self.current
        if ref is None:
            return  # an image is shown, so never: the frame list is not empty
        point = self.to_image(pos)
        if self.tool in TWO_POINT or self.tool == "freehand":
            self._draft = Annotation(
                self.tool, [point, point], self.author, ref.instance.sop_instance_uid, ref.frame
            )
        elif self.tool == "shutter":  # dragged like a rectangle, becomes the display shutter
            self._draft = Annotation(
                "rectangle", [point, point], self.author, ref.instance.sop_instance_uid, ref.frame
            )
        elif self.tool == "angle":
            if self._draft is not None and self._draft.kind == "angle":
                self._draft.points[-1] = point
                if len(self._draft.points) == 3:
                    self._commit_draft()
                else:
                    self._draft.points.append(point)
            else:
                self._draft = Annotation(
                    "angle", [point, point], self.author, ref.instance.sop_instance_uid, ref.frame
                )
        elif self.tool == "text":
            text, ok = QInputDialog.getText(self, self.tr("Text annotation"), self.tr("Text:"))
            if ok and text.strip():
                self.annotations.add(
                    Annotation(
                        "text",
                        [point],
                        self.author,
                        ref.instance.sop_instance_uid,
                        ref.frame,
                        text=text.strip(),
                    )
                )
        elif self.tool == "select":
            self._select_at(pos)
        self.update()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None:
            return
        pos = e.position()
        dx, dy = pos.x() - self._drag["last"].x(), pos.y() - self._drag["last"].y()
        self._drag["last"] = pos
        button = self._drag["button"]
        if button == Qt.MouseButton.RightButton or (
            button == Qt.MouseButton.LeftButton and self.tool == "wl"
        ):
            self.adjust_window(dx, dy)
        elif button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self.tool == "pan"
        ):
            self.pan_by(dx, dy)
        elif button == Qt.MouseButton.LeftButton and self.tool == "zoom":
            self.zoom_by(math.exp(-dy / 200.0))
        elif self._draft is not None:
            point = self.to_image(pos)
            if self._draft.kind == "freehand":
                self._draft.points.append(point)
            else:
                self._draft.points[-1] = point
            self.update()
        elif self.tool == "select" and self._drag.get("ann") is not None:
            self._drag_selected(pos)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self._drag is None:
            return
        if self._draft is not None and self._draft.kind != "angle":
            self._commit_draft()
        elif self._drag.get("moved") is not None:
            self.annotations.replace(self._drag["moved"])
        self._drag = None
        self.update()

    def _commit_draft(self) -> None:
        draft, self._draft = self._draft, None
        if draft is None:
            return
        pts = draft.points
        if (
            len(pts) < 2
            or max(
                abs(pts[-1][0] - pts[0][0]),
                abs(pts[-1][1] - pts[0][1]),
                *(abs(p[0] - pts[0][0]) for p in pts),
            )
            < 0.5
        ):
            return  # a click, not a drawing
        if draft.kind == "calibration":
            self.calibration_requested.emit(draft)
            return
        if self.tool == "shutter":
            try:
                self.set_shutter(rectangle_from_points(pts[0], pts[-1], self._image_size))
            except ValueError:
                pass  # dragged entirely outside the image: nothing to show through
            return
        if draft.kind == "arrow":
            text, ok = QInputDialog.getText(self, self.tr("Arrow label"), self.tr("Text:"))
            draft.text = text.strip() if ok else ""
        self.annotations.add(draft)
        self.selected_id = draft.id

    def _select_at(self, pos: QPointF) -> None:
        ref = self.current
        if ref is None:
            return
        best, best_d, best_idx = None, 8.0, None
        for ann in self.annotations.for_image(ref.instance.sop_instance_uid, ref.frame):
            for idx, q in enumerate(ann.points):
                v = self.to_view(q)
                d = math.hypot(v.x() - pos.x(), v.y() - pos.y())
                if d < best_d:
                    best, best_d, best_idx = ann, d, idx
            outline = [self.to_view(q) for q in ann.outline()]
            for a, b in zip(outline, outline[1:], strict=False):
                d = _segment_distance(pos, a, b)
                if d < best_d:
                    best, best_d, best_idx = ann, d, None
        self.selected_id = best.id if best else None
        if self._drag is not None and best is not None:
            self._drag["ann"] = best
            self._drag["point"] = best_idx

    def _drag_selected(self, pos: QPointF) -> None:
        drag = self._drag
        if drag is None:
            return
        ann: Annotation = drag["ann"]
        start = self.to_image(drag["start"])
        now = self.to_image(pos)
        dx, dy = now[0] - start[0], now[1] - start[1]
        idx = drag.get("point")
        if idx is None or ann.kind == "freehand":
            moved = ann.moved(dx, dy)
        else:
            moved = ann.moved(0, 0)
            x, y = ann.points[idx]
            moved.points[idx] = (x + dx, y + dy)
        drag["moved"] = moved
        self._draft_preview(moved)

    def _draft_preview(self, moved: Annotation) -> None:
        # show the edit live without recording undo steps for every mouse move
        self.annotations.items = [moved if a.id == moved.id else a for a in self.annotations.items]
        self.update()

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self.tool == "angle" and self._draft is not None:
            self._commit_draft()
            return
        if self.tool != "select" or self.selected_id is None:
            return
        ann = self.annotations.get(self.selected_id)
        if (
            ann is not None
            and ann.kind in ("text", "arrow")
            or ann is not None
            and ann.kind in CLOSED_KINDS
        ):
            text, ok = QInputDialog.getText(
                self, self.tr("Edit text"), self.tr("Text:"), text=ann.text
            )
            if ok:
                edited = ann.moved(0, 0)
                edited.text = text.strip()
                self.annotations.replace(edited)

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802
        steps = e.angleDelta().y() / 120.0
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(1.15**steps)
        else:
            self.scroll_frames(
                -int(math.copysign(max(1, abs(round(steps))), steps)) if steps else 0
            )

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802
        key = e.key()
        moves: dict[int, int] = {
            Qt.Key.Key_Up: -1,
            Qt.Key.Key_Down: 1,
            Qt.Key.Key_Left: -1,
            Qt.Key.Key_Right: 1,
            Qt.Key.Key_PageUp: -10,
            Qt.Key.Key_PageDown: 10,
        }
        if key in moves:
            self.scroll_frames(moves[key])
        elif key == Qt.Key.Key_Home:
            self.set_frame(0)
        elif key == Qt.Key.Key_End:
            self.set_frame(len(self.frames) - 1)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selected_id:
            self.annotations.remove(self.selected_id)
            self.selected_id = None
        elif key == Qt.Key.Key_Escape:
            self._draft = None
            self.update()
        else:
            super().keyPressEvent(e)

    # ------------------------------------------------------------------ view operations
    def adjust_window(self, dx: float, dy: float) -> None:
        """Right-drag: horizontal changes width, vertical changes level (scaled to the data)."""
        win = self.shown_window()
        if win is None:
            return
        step = max(win.width / 256.0, 0.5)
        width = max(1.0, win.width + dx * step)
        center = win.center + dy * step
        self.state.window = Window(center, width, win.function)
        self.render_view()

    def set_window(self, window: Window | None) -> None:
        self.state.window = window
        self.render_view()

    def pan_by(self, dx: float, dy: float) -> None:
        w, h = self._image_size
        cx, cy = self.state.center or (w / 2.0, h / 2.0)
        a = self.to_image(QPointF(0, 0))
        b = self.to_image(QPointF(dx, dy))
        self.state.center = (cx - (b[0] - a[0]), cy - (b[1] - a[1]))
        self.render_view()

    def zoom_by(self, factor: float) -> None:
        zoom = effective_zoom(self.state, self._image_size, (self.width(), self.height()))
        self.state.zoom = min(max(zoom * factor, 0.05), 40.0)
        self.render_view()

    def fit(self) -> None:
        self.state.zoom, self.state.center = None, None
        self.render_view()

    def actual_size(self) -> None:
        self.state.zoom = 1.0
        self.render_view()

    def rotate(self, degrees: int) -> None:
        self.state.rotation = (self.state.rotation + degrees) % 360
        self.render_view()

    def flip(self) -> None:
        self.state.flip_h = not self.state.flip_h
        self.render_view()

    def invert(self) -> None:
        self.state.invert = not self.state.invert
        self.render_view()


def _text(p: QPainter, rect, flags, text: str, colour: QColor = WHITE) -> None:  # noqa: ANN001
    """Text with a dark shadow, legible on bright and dark images alike."""
    p.setPen(QColor(0, 0, 0))
    p.drawText(rect.translated(1, 1), flags, text)
    p.setPen(colour)
    p.drawText(rect, flags, text)


def _segment_distance(p: QPointF, a: QPointF, b: QPointF) -> float:
    ax, ay, bx, by, px, py = a.x(), a.y(), b.x(), b.y(), p.x(), p.y()
    dx, dy = bx - ax, by - ay
    if dx == dy == 0:
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)
