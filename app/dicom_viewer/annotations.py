"""The annotation model: measurements and marks as plain JSON-able records, with undo/redo.

Points are image pixel coordinates (x = column, y = row, DICOM PIXEL convention). Every
annotation records its author and the SOP instance / frame it belongs to, so a set can
travel over a data channel during co-viewing and be saved as GSPS.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np

from app.dicom_viewer import measurements as m
from app.dicom_viewer.calibration import Calibration

KINDS = ("length", "angle", "ellipse", "rectangle", "freehand", "arrow", "text", "calibration")
CLOSED_KINDS = ("ellipse", "rectangle", "freehand")


@dataclass
class Annotation:
    kind: str
    points: list[tuple[float, float]]
    author: str
    sop_instance_uid: str
    frame: int = 0  # 0-based frame within the instance
    text: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown annotation kind {self.kind!r}")
        self.points = [(float(x), float(y)) for x, y in self.points]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["points"] = [list(p) for p in self.points]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Annotation:
        return cls(
            kind=str(d["kind"]),
            points=[tuple(p) for p in d["points"]],
            author=str(d.get("author", "")),
            sop_instance_uid=str(d.get("sop_instance_uid", "")),
            frame=int(d.get("frame", 0)),
            text=str(d.get("text", "")),
            id=str(d.get("id") or uuid.uuid4().hex),
            created=str(d.get("created", "")),
        )

    def outline(self) -> list[tuple[float, float]]:
        """The polyline drawn for this annotation (closed shapes return closed outlines)."""
        if self.kind == "rectangle" and len(self.points) >= 2:
            pts = m.rectangle_points(self.points[0], self.points[-1])
            return pts + [pts[0]]
        if self.kind == "ellipse" and len(self.points) >= 2:
            pts = m.ellipse_points(self.points[0], self.points[1])
            return pts + [pts[0]]
        if self.kind == "freehand" and len(self.points) >= 3:
            return list(self.points) + [self.points[0]]
        return list(self.points)

    def moved(self, dx: float, dy: float) -> Annotation:
        out = copy.deepcopy(self)
        out.points = [(x + dx, y + dy) for x, y in self.points]
        return out


def describe(
    ann: Annotation, cal: Calibration, values: np.ndarray | None = None, unit: str = ""
) -> str:
    """The measurement text shown next to an annotation (calibration stated when absent)."""
    lu = "mm" if cal.calibrated else "px"
    tail = f" ({cal.qualifier})" if cal.qualifier else ""
    if ann.kind in ("length", "calibration") and len(ann.points) >= 2:
        return f"{m.length(ann.points[0], ann.points[1], cal):.2f} {lu}{tail}"
    if ann.kind == "angle" and len(ann.points) >= 3:
        return f"{m.angle(ann.points[0], ann.points[1], ann.points[2], cal):.1f}°"
    if ann.kind in CLOSED_KINDS:
        if ann.kind == "ellipse" and len(ann.points) >= 2:
            area = m.ellipse_area(ann.points[0], ann.points[1], cal)
        else:
            area = m.polygon_area(ann.outline()[:-1], cal)
        text = f"A {area:.1f} {lu}²{tail}"
        if values is not None:
            stats = m.roi_stats(values, m.region_mask(ann.kind, ann.points, values.shape[:2]))
            if stats is not None:
                u = f" {unit}" if unit else ""
                text += (
                    f"\nmean {stats.mean:.1f}{u} SD {stats.sd:.1f}"
                    f"\nmin {stats.minimum:.0f} max {stats.maximum:.0f}"
                )
        return text
    if ann.kind == "text":
        return ann.text
    return ann.text


class AnnotationSet:
    """All annotations of a viewing session, with snapshot-based undo/redo."""

    def __init__(self, items: list[Annotation] | None = None) -> None:
        self.items: list[Annotation] = list(items or [])
        self._undo: list[list[Annotation]] = []
        self._redo: list[list[Annotation]] = []
        self.listeners: list[Callable[[], None]] = []

    def _snapshot(self) -> None:
        self._undo.append(copy.deepcopy(self.items))
        self._redo.clear()

    def _changed(self) -> None:
        for fn in list(self.listeners):
            fn()

    def add(self, ann: Annotation) -> Annotation:
        self._snapshot()
        self.items.append(ann)
        self._changed()
        return ann

    def remove(self, ann_id: str) -> None:
        self._snapshot()
        self.items = [a for a in self.items if a.id != ann_id]
        self._changed()

    def replace(self, ann: Annotation) -> None:
        """Put an edited (moved, re-texted) annotation in place of the one with its id."""
        self._snapshot()
        self.items = [ann if a.id == ann.id else a for a in self.items]
        self._changed()

    def get(self, ann_id: str) -> Annotation | None:
        return next((a for a in self.items if a.id == ann_id), None)

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(copy.deepcopy(self.items))
        self.items = self._undo.pop()
        self._changed()
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append(copy.deepcopy(self.items))
        self.items = self._redo.pop()
        self._changed()
        return True

    def for_image(self, sop_instance_uid: str, frame: int) -> list[Annotation]:
        return [
            a for a in self.items if a.sop_instance_uid == sop_instance_uid and a.frame == frame
        ]

    def to_list(self) -> list[dict]:
        return [a.to_dict() for a in self.items]

    @classmethod
    def from_list(cls, items: list[dict]) -> AnnotationSet:
        return cls([Annotation.from_dict(d) for d in items])
