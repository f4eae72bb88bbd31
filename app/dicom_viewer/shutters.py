"""Display shutters (rectangular, circular, polygonal) as carried by a presentation state.

Coordinates are DICOM's: 1-based pixel columns and rows, edges inclusive; the circle centre and
polygon vertices are (row, column) pairs, as in the Display Shutter module (PS3.3 C.7.6.11).
The mask itself is computed by ``pipeline.shutter_mask``, the same code that applies shutters
stored in images, so the viewer, ``export`` and an image's own shutter agree pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from app.dicom_viewer import pipeline as P

# a* = b* = 0 in the PCS encoding of Shutter Presentation Color CIELab Value.
_LAB_NEUTRAL = 0x8080
_SHUTTER_TAGS = (
    "ShutterShape",
    "ShutterLeftVerticalEdge",
    "ShutterRightVerticalEdge",
    "ShutterUpperHorizontalEdge",
    "ShutterLowerHorizontalEdge",
    "CenterOfCircularShutter",
    "RadiusOfCircularShutter",
    "VerticesOfThePolygonalShutter",
    "ShutterPresentationValue",
    "ShutterPresentationColorCIELabValue",
)


@dataclass(frozen=True)
class Shutter:
    """Any combination of the three shapes; pixels outside any of them are hidden."""

    rectangle: tuple[int, int, int, int] | None = None  # left, right, upper, lower
    circle: tuple[int, int, int] | None = None  # centre row, centre column, radius
    polygon: tuple[tuple[int, int], ...] | None = None  # vertices as (row, column)
    value: int = 0  # Shutter Presentation Value, a 16-bit P-value (0 = black)

    def __post_init__(self) -> None:
        if self.rectangle is None and self.circle is None and not self.polygon:
            raise ValueError("a shutter needs a rectangle, a circle or a polygon")
        if self.rectangle is not None:
            left, right, upper, lower = self.rectangle
            if left > right or upper > lower:
                raise ValueError(f"rectangular shutter edges out of order: {self.rectangle}")
        if self.circle is not None and self.circle[2] <= 0:
            raise ValueError(f"circular shutter radius must be positive: {self.circle[2]}")
        if self.polygon is not None and len(self.polygon) < 3:
            raise ValueError("a polygonal shutter needs at least 3 vertices")
        if not 0 <= self.value <= 0xFFFF:
            raise ValueError(f"shutter presentation value out of range: {self.value}")

    @property
    def shapes(self) -> list[str]:
        return [
            name
            for name, part in (
                ("RECTANGULAR", self.rectangle),
                ("CIRCULAR", self.circle),
                ("POLYGONAL", self.polygon),
            )
            if part
        ]

    # ------------------------------------------------------------------ DICOM attributes
    def write_to(self, ds: Dataset, colour: bool = False) -> None:
        """Put the Display Shutter attributes into a presentation state dataset."""
        for tag in _SHUTTER_TAGS:
            if tag in ds:
                del ds[tag]
        ds.ShutterShape = self.shapes
        if self.rectangle is not None:
            (
                ds.ShutterLeftVerticalEdge,
                ds.ShutterRightVerticalEdge,
                ds.ShutterUpperHorizontalEdge,
                ds.ShutterLowerHorizontalEdge,
            ) = self.rectangle
        if self.circle is not None:
            ds.CenterOfCircularShutter = [self.circle[0], self.circle[1]]
            ds.RadiusOfCircularShutter = self.circle[2]
        if self.polygon:
            ds.VerticesOfThePolygonalShutter = [int(v) for vertex in self.polygon for v in vertex]
        # The Presentation State Shutter module: a grey P-value for grayscale states, a CIELab
        # colour for colour states (one of the two is required, PS3.3 C.11.12).
        if colour:  # the grey level as L* (PCS-encoded), a* = b* = 0
            ds.ShutterPresentationColorCIELabValue = [self.value, _LAB_NEUTRAL, _LAB_NEUTRAL]
        else:
            ds.ShutterPresentationValue = self.value

    @classmethod
    def from_dataset(cls, ds: Dataset) -> Shutter | None:
        """The shutter a dataset describes (None if it has none); ValueError if malformed."""
        shapes = {str(s).strip().upper() for s in _values(ds.get("ShutterShape"))}
        if not shapes:
            return None
        unknown = shapes - {"RECTANGULAR", "CIRCULAR", "POLYGONAL"}
        if unknown:
            raise ValueError(f"unknown shutter shape {', '.join(sorted(unknown))}")
        rectangle: tuple[int, int, int, int] | None = None
        circle: tuple[int, int, int] | None = None
        polygon: tuple[tuple[int, int], ...] | None = None
        try:
            if "RECTANGULAR" in shapes:
                left, right, upper, lower = (
                    int(ds[t].value)
                    for t in (
                        "ShutterLeftVerticalEdge",
                        "ShutterRightVerticalEdge",
                        "ShutterUpperHorizontalEdge",
                        "ShutterLowerHorizontalEdge",
                    )
                )
                rectangle = (left, right, upper, lower)
            if "CIRCULAR" in shapes:
                centre = [int(v) for v in _values(ds.CenterOfCircularShutter)]
                circle = (centre[0], centre[1], int(ds.RadiusOfCircularShutter))
            if "POLYGONAL" in shapes:
                flat = [int(v) for v in _values(ds.VerticesOfThePolygonalShutter)]
                if len(flat) % 2:
                    raise ValueError("odd number of polygonal shutter coordinates")
                polygon = tuple(zip(flat[0::2], flat[1::2], strict=True))
        except (AttributeError, KeyError, IndexError, TypeError) as exc:
            raise ValueError(
                f"incomplete {'/'.join(sorted(shapes)).lower()} shutter ({exc})"
            ) from exc
        value = ds.get("ShutterPresentationValue")
        if value is None and "ShutterPresentationColorCIELabValue" in ds:
            value = int(_values(ds.ShutterPresentationColorCIELabValue)[0])
        return cls(rectangle, circle, polygon, int(value or 0))

    # ------------------------------------------------------------------ rendering
    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """True where the shutter hides pixels of an image of ``shape`` (rows, columns)."""
        ds = Dataset()
        self.write_to(ds)
        ds.Rows, ds.Columns = shape
        mask = P.shutter_mask(ds)
        return mask if mask is not None else np.zeros(shape, bool)

    @property
    def display_value(self) -> int:
        """The 8-bit grey shuttered pixels are shown in."""
        ds = Dataset()
        ds.ShutterPresentationValue = self.value
        return P.shutter_gray(ds)

    # ------------------------------------------------------------------ JSON (co-viewing)
    def to_dict(self) -> dict:
        return {
            "rectangle": list(self.rectangle) if self.rectangle else None,
            "circle": list(self.circle) if self.circle else None,
            "polygon": [list(v) for v in self.polygon] if self.polygon else None,
            "value": self.value,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Shutter:
        rect = [int(v) for v in d["rectangle"]] if d.get("rectangle") else None
        circ = [int(v) for v in d["circle"]] if d.get("circle") else None
        return cls(
            (rect[0], rect[1], rect[2], rect[3]) if rect else None,
            (circ[0], circ[1], circ[2]) if circ else None,
            tuple((int(r), int(c)) for r, c in d["polygon"]) if d.get("polygon") else None,
            int(d.get("value", 0)),
        )


def rectangle_from_points(
    p0: tuple[float, float], p1: tuple[float, float], image_size: tuple[int, int], value: int = 0
) -> Shutter:
    """The rectangular shutter whose opening covers every pixel the dragged rectangle touches.

    Points are image coordinates in the PIXEL convention (pixel (0,0) spans [0,1)×[0,1));
    ``image_size`` is (columns, rows). Raises ValueError if nothing of the image is inside.
    """
    cols, rows = image_size
    x0, x1 = sorted((p0[0], p1[0]))
    y0, y1 = sorted((p0[1], p1[1]))
    left, right = max(1, math.floor(x0) + 1), min(cols, math.ceil(x1))
    upper, lower = max(1, math.floor(y0) + 1), min(rows, math.ceil(y1))
    if left > right or upper > lower:
        raise ValueError("the shutter rectangle lies outside the image")
    return Shutter(rectangle=(left, right, upper, lower), value=value)


def _values(value: object) -> list:
    if value is None:
        return []
    if (
        isinstance(value, (list, tuple))
        or hasattr(value, "__iter__")
        and not isinstance(value, (str, bytes))
    ):
        return list(value)
    return [value]
