"""The text shown in the viewport corners, the orientation markers, the LOSSY and
"uncalibrated" flags: computed here once, drawn by the Qt widget and by the exporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
from pydicom.dataset import Dataset

from app.dicom_viewer.calibration import calibration_for
from app.dicom_viewer.frames import frame_header
from app.dicom_viewer.index import display_name
from app.dicom_viewer.pipeline import Window
from app.dicom_viewer.view_state import ViewState, image_to_viewport


@dataclass
class CornerText:
    top_left: list[str] = field(default_factory=list)
    top_right: list[str] = field(default_factory=list)
    bottom_left: list[str] = field(default_factory=list)
    bottom_right: list[str] = field(default_factory=list)
    lossy: bool = False
    calibrated: bool = True
    markers: dict[str, str] = field(default_factory=dict)  # left/right/top/bottom → e.g. "R"


def _fmt_date(value: object) -> str:
    s = str(value or "")
    return f"{s[:4]}-{s[4:6]}-{s[6:8]}" if len(s) == 8 and s.isdigit() else s


def patient_age(ds: Dataset) -> str:
    """PatientAge, or computed from birth date and study date."""
    age = str(ds.get("PatientAge", "") or "")
    if age:
        return age.lstrip("0") or age
    birth, study = str(ds.get("PatientBirthDate", "") or ""), str(ds.get("StudyDate", "") or "")
    try:
        b = date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
        s = date(int(study[:4]), int(study[4:6]), int(study[6:8]))
    except (ValueError, IndexError):
        return ""
    years = s.year - b.year - ((s.month, s.day) < (b.month, b.day))
    return f"{years}Y"


def is_lossy(ds: Dataset) -> bool:
    """LossyImageCompression 01 (or a lossy transfer syntax)."""
    if str(ds.get("LossyImageCompression", "") or "") == "01":
        return True
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    return ts in {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.203",
    }


def _orientation_label(vec: np.ndarray) -> str:
    letters = []
    for axis in np.argsort(-np.abs(vec)):
        if abs(vec[axis]) < 0.25:
            break
        letters.append(("L", "P", "H")[axis] if vec[axis] > 0 else ("R", "A", "F")[axis])
    return "".join(letters[:2])


def orientation_markers(
    ds: Dataset, state: ViewState, image_size: tuple[int, int], viewport: tuple[int, int]
) -> dict[str, str]:
    """Patient directions at the viewport's left/right/top/bottom edges."""
    ori = ds.get("ImageOrientationPatient")
    if ori is None or len(ori) != 6:
        return {}
    row = np.array([float(v) for v in ori[:3]])  # direction of increasing column (x)
    col = np.array([float(v) for v in ori[3:]])  # direction of increasing row (y)
    inv = np.linalg.inv(image_to_viewport(state, image_size, viewport))
    out = {}
    for name, (dx, dy) in {
        "right": (1, 0),
        "left": (-1, 0),
        "bottom": (0, 1),
        "top": (0, -1),
    }.items():
        ix, iy, _ = inv @ np.array([dx, dy, 0.0])  # direction vector, translation-free
        out[name] = _orientation_label(row * ix + col * iy)
    return out


LABELS = {
    "id": "ID",
    "series": "Se",
    "image": "Im",
    "width": "W",
    "level": "L",
    "zoom": "Zoom",
    "location": "Loc",
    "thickness": "Thick",
}


def corner_text(
    header: Dataset,
    frame: int,
    index: int,
    count: int,
    state: ViewState,
    window: Window | None,
    zoom: float,
    image_size: tuple[int, int],
    viewport: tuple[int, int],
    labels: dict[str, str] | None = None,
) -> CornerText:
    """Everything written around the image for one viewport (``labels`` translate the
    field names; values are never translated)."""
    lb = {**LABELS, **(labels or {})}
    fh = frame_header(header, frame)
    ct = CornerText()
    name = display_name(fh.get("PatientName"))
    ct.top_left = [
        name,
        f"{lb['id']}: {fh.get('PatientID', '')}",
        " ".join(x for x in (patient_age(fh), str(fh.get("PatientSex", "") or "")) if x),
    ]
    ct.top_right = [
        _fmt_date(fh.get("StudyDate")),
        str(fh.get("StudyDescription", "") or ""),
        f"{lb['series']}: {fh.get('SeriesNumber', '')} {fh.get('SeriesDescription', '') or ''}".strip(),
        f"{lb['image']}: {index + 1}/{count}",
    ]
    if window is not None:
        ct.bottom_left.append(f"{lb['width']}: {window.width:g} {lb['level']}: {window.center:g}")
    ct.bottom_left.append(f"{lb['zoom']}: {zoom * 100:.0f}%")
    loc = fh.get("SliceLocation")
    if loc is None and fh.get("ImagePositionPatient") is not None:
        loc = fh.ImagePositionPatient[2]
    if loc is not None:
        ct.bottom_right.append(f"{lb['location']}: {float(loc):.2f} mm")
    if fh.get("SliceThickness") not in (None, ""):
        ct.bottom_right.append(f"{lb['thickness']}: {float(fh.SliceThickness):.2f} mm")
    ct.lossy = is_lossy(fh)
    ct.calibrated = calibration_for(fh).calibrated
    ct.markers = orientation_markers(fh, state, image_size, viewport)
    return ct


def scale_bar_mm(zoom: float, mm_per_pixel: float, viewport_width: int) -> tuple[float, float]:
    """A round scale-bar length (mm) ≤ a quarter of the viewport, and its length in pixels."""
    px_per_mm = zoom / mm_per_pixel
    target = viewport_width / 4 / px_per_mm
    fitting = [s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500) if s <= target]
    best = fitting[-1] if fitting else 1
    return float(best), float(best * px_per_mm)
