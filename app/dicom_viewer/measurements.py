"""Geometry and statistics of measurements, in image pixel coordinates (x = column, y = row;
pixel (0, 0) covers [0, 1) × [0, 1), the DICOM PIXEL annotation convention)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.dicom_viewer.calibration import Calibration
from app.dicom_viewer.pipeline import points_in_polygon

Point = tuple[float, float]


def _scale(cal: Calibration) -> tuple[float, float]:
    """(mm per x pixel, mm per y pixel), or pixel units when uncalibrated."""
    if cal.calibrated:
        return float(cal.col_mm), float(cal.row_mm)  # type: ignore[arg-type]
    return 1.0, 1.0


def length(p1: Point, p2: Point, cal: Calibration) -> float:
    """Distance in mm (or pixels when uncalibrated)."""
    sx, sy = _scale(cal)
    return math.hypot((p2[0] - p1[0]) * sx, (p2[1] - p1[1]) * sy)


def angle(p1: Point, vertex: Point, p3: Point, cal: Calibration) -> float:
    """Angle at ``vertex`` in degrees, measured in physical space (anisotropic pixels)."""
    sx, sy = _scale(cal)
    a = ((p1[0] - vertex[0]) * sx, (p1[1] - vertex[1]) * sy)
    b = ((p3[0] - vertex[0]) * sx, (p3[1] - vertex[1]) * sy)
    na, nb = math.hypot(*a), math.hypot(*b)
    if na == 0 or nb == 0:
        return 0.0
    cos = max(-1.0, min(1.0, (a[0] * b[0] + a[1] * b[1]) / (na * nb)))
    return math.degrees(math.acos(cos))


def polygon_area(points: list[Point], cal: Calibration) -> float:
    """Area in mm² (or pixels²) by the shoelace formula."""
    sx, sy = _scale(cal)
    if len(points) < 3:
        return 0.0
    xs = np.array([p[0] for p in points]) * sx
    ys = np.array([p[1] for p in points]) * sy
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2.0)


def rectangle_points(p1: Point, p2: Point) -> list[Point]:
    """Corners of the axis-aligned rectangle spanned by two points (closed order)."""
    (x1, y1), (x2, y2) = p1, p2
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def ellipse_points(p1: Point, p2: Point, n: int = 64) -> list[Point]:
    """A polygon approximating the ellipse inscribed in the box p1–p2."""
    cx, cy = (p1[0] + p2[0]) / 2, (p1[1] + p2[1]) / 2
    rx, ry = abs(p2[0] - p1[0]) / 2, abs(p2[1] - p1[1]) / 2
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return [(float(cx + rx * math.cos(a)), float(cy + ry * math.sin(a))) for a in t]


def ellipse_area(p1: Point, p2: Point, cal: Calibration) -> float:
    sx, sy = _scale(cal)
    return math.pi * abs(p2[0] - p1[0]) / 2 * sx * abs(p2[1] - p1[1]) / 2 * sy


def region_mask(kind: str, points: list[Point], shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centres lie inside the ROI (rectangle / ellipse / freehand)."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64) + 0.5  # pixel centres
    if kind == "rectangle":
        (x1, y1), (x2, y2) = points[0], points[-1] if len(points) == 2 else points[2]
        return (xx >= min(x1, x2)) & (xx <= max(x1, x2)) & (yy >= min(y1, y2)) & (yy <= max(y1, y2))
    if kind == "ellipse":
        (x1, y1), (x2, y2) = points[0], points[1]
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, abs(x2 - x1) / 2, abs(y2 - y1) / 2
        if rx == 0 or ry == 0:
            return np.zeros(shape, bool)
        return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    poly = np.array(points, dtype=np.float64)
    return points_in_polygon(xx, yy, poly)


@dataclass(frozen=True)
class RoiStats:
    count: int
    mean: float
    sd: float
    minimum: float
    maximum: float


def roi_stats(values: np.ndarray, mask: np.ndarray) -> RoiStats | None:
    """Statistics of modality values inside the mask (None for an empty ROI)."""
    if values.ndim == 3:  # colour: statistics of luminance
        values = values[..., :3] @ np.array([0.299, 0.587, 0.114])
    sel = values[mask]
    if sel.size == 0:
        return None
    return RoiStats(
        int(sel.size), float(sel.mean()), float(sel.std()), float(sel.min()), float(sel.max())
    )
