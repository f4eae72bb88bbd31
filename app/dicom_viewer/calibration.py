"""Pixel spacing for measurements, chosen as Weasis does, or "uncalibrated" when unknown.

Order: PixelSpacing; else ImagerPixelSpacing corrected by EstimatedRadiographic-
MagnificationFactor, else by DistanceSourceToPatient / DistanceSourceToDetector (else used
as "at detector"); else ultrasound region calibration; else NominalScannedPixelSpacing;
else uncalibrated. A manual calibration set by the user overrides everything.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from pydicom.dataset import Dataset


@dataclass(frozen=True)
class Calibration:
    """Millimetres per pixel along rows (vertical) and columns (horizontal)."""

    row_mm: float | None  # spacing between rows, i.e. vertical size of a pixel
    col_mm: float | None  # spacing between columns, i.e. horizontal size of a pixel
    source: str  # where the value came from (shown next to measurements)

    @property
    def calibrated(self) -> bool:
        return bool(self.row_mm and self.col_mm)

    @property
    def qualifier(self) -> str:
        """What a reader must know beside every number measured with this calibration:
        "uncalibrated", "at detector" (projection radiograph, no magnification correction),
        or "" when the spacing is that of the patient."""
        if not self.calibrated:
            return "uncalibrated"
        return "at detector" if "at detector" in self.source else ""

    def to_dict(self) -> dict:
        return {"row_mm": self.row_mm, "col_mm": self.col_mm, "source": self.source}

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls(d.get("row_mm"), d.get("col_mm"), str(d.get("source", "")))


UNCALIBRATED = Calibration(None, None, "uncalibrated")
log = logging.getLogger(__name__)


def _single(value: object) -> float | None:
    """One non-zero finite number, or None (missing, multi-valued, not a number)."""
    if hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
        return None  # a multi-valued element: which value would be meant?
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number and math.isfinite(number) else None


def _pair(value: object) -> tuple[float, float] | None:
    try:
        row, col = float(value[0]), float(value[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return None
    return (row, col) if row > 0 and col > 0 else None


def calibration_for(ds: Dataset) -> Calibration:
    """The calibration of an image header (use frames.frame_header for enhanced images)."""
    spacing = _pair(ds.get("PixelSpacing"))
    if spacing:
        return Calibration(spacing[0], spacing[1], "PixelSpacing")
    imager = _pair(ds.get("ImagerPixelSpacing"))
    if imager:
        try:
            factor = float(ds.get("EstimatedRadiographicMagnificationFactor") or 0)
        except (TypeError, ValueError):
            factor = 0.0
        if factor > 0:
            return Calibration(
                imager[0] / factor, imager[1] / factor, "ImagerPixelSpacing / magnification factor"
            )
        try:
            sod = float(ds.get("DistanceSourceToPatient") or 0)
            sid = float(ds.get("DistanceSourceToDetector") or 0)
        except (TypeError, ValueError):
            sod = sid = 0.0
        if sod > 0 and sid > 0:
            ratio = sod / sid
            return Calibration(imager[0] * ratio, imager[1] * ratio, "ImagerPixelSpacing × SOD/SID")
        return Calibration(imager[0], imager[1], "ImagerPixelSpacing (at detector)")
    regions = ds.get("SequenceOfUltrasoundRegions")
    if regions and len(regions) == 1:
        region = regions[0]
        # Physical units 3 = cm: spacing in mm is delta × 10.
        if (
            region.get("PhysicalUnitsXDirection") == 3
            and region.get("PhysicalUnitsYDirection") == 3
        ):
            dx, dy = _single(region.get("PhysicalDeltaX")), _single(region.get("PhysicalDeltaY"))
            if dx and dy:
                return Calibration(abs(dy) * 10, abs(dx) * 10, "ultrasound region")
            # Units without a usable delta: measurements stay in pixels, and say why.
            log.warning("ultrasound region: Physical Delta X/Y missing or invalid; uncalibrated")
            return Calibration(None, None, "uncalibrated (ultrasound region without spacing)")
    nominal = _pair(ds.get("NominalScannedPixelSpacing"))
    if nominal:
        return Calibration(nominal[0], nominal[1], "NominalScannedPixelSpacing")
    return UNCALIBRATED


def manual_calibration(
    pixel_length: float, known_mm: float, aspect: tuple[float, float] = (1.0, 1.0)
) -> Calibration:
    """Calibration from a line of ``pixel_length`` pixels the user says is ``known_mm`` long."""
    if pixel_length <= 0 or known_mm <= 0:
        raise ValueError("calibration needs a positive length in pixels and in millimetres")
    mm = known_mm / pixel_length
    return Calibration(mm * aspect[0], mm * aspect[1], "manual")
