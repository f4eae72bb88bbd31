"""The text shown in the viewport corners, the orientation markers, the LOSSY and
"uncalibrated" flags: computed here once, drawn by the Qt widget and by the exporter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from pydicom.dataset import Dataset

from app.dicom_viewer.calibration import Calibration, calibration_for
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
    calibration_note: str = ""  # "UNCALIBRATED" / "at detector" note, never dropped


def _number(value: object) -> float | None:
    """A single finite number, or None."""
    if value is None or (hasattr(value, "__len__") and not isinstance(value, str)):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


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
    # Malformed values (multi-valued, empty, text) are left out: the image still shows.
    loc = _number(fh.get("SliceLocation"))
    position = fh.get("ImagePositionPatient")
    if loc is None and position is not None and len(position) == 3:
        loc = _number(position[2])
    if loc is not None:
        ct.bottom_right.append(f"{lb['location']}: {loc:.2f} mm")
    thickness = _number(fh.get("SliceThickness"))
    if thickness is not None:
        ct.bottom_right.append(f"{lb['thickness']}: {thickness:.2f} mm")
    ct.lossy = is_lossy(fh)
    cal = calibration_for(fh)
    ct.calibrated = cal.calibrated
    ct.calibration_note = calibration_note(cal)
    ct.markers = orientation_markers(fh, state, image_size, viewport)
    return ct


def scale_bar_mm(zoom: float, mm_per_pixel: float, viewport_width: int) -> tuple[float, float]:
    """A round scale-bar length (mm) ≤ a quarter of the viewport, and its length in pixels."""
    px_per_mm = zoom / mm_per_pixel
    target = viewport_width / 4 / px_per_mm
    fitting = [s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500) if s <= target]
    best = fitting[-1] if fitting else 1
    return float(best), float(best * px_per_mm)


def calibration_note(cal: Calibration) -> str:
    """The corner line that qualifies every measurement ("" when lengths are the patient's)."""
    if not cal.calibrated:
        return "UNCALIBRATED: measurements in pixels"
    if cal.qualifier:
        return f"Calibration: {cal.source}"
    return ""


# Which line of each corner goes first when space runs out (higher: dropped earlier).
# Patient name and ID (top left) and the calibration note are never dropped.
_DROP_ORDER = {
    "top_left": (None, None, 2),  # name, ID, age/sex
    "top_right": (2, 4, 3, 1),  # date, study description, series, image number
    "bottom_left": (1, 2),  # window, zoom
    "bottom_right": (2, 3),  # location, thickness
}
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


def layout_corners(
    ct: CornerText,
    width: float,
    height: float,
    measure: Callable[[str], float],
    line_height: float,
    margin: float = 6.0,
    gap: float = 12.0,
    extra_bottom_right: list[str] | None = None,
) -> dict[str, list[str]]:
    """The lines each corner can show in a ``width`` × ``height`` viewport without two
    corners touching: long lines are shortened with "…" (the patient's name is wrapped
    instead), and the least important lines are dropped when rows run out. ``measure``
    gives a string's width in the same units as ``width`` (QFontMetrics, PIL font)."""
    lines = {
        "top_left": list(ct.top_left),
        "top_right": list(ct.top_right),
        "bottom_left": list(ct.bottom_left),
        "bottom_right": list(ct.bottom_right) + list(extra_bottom_right or []),
    }
    keep = {name: [_keep_rank(name, i) for i in range(len(lines[name]))] for name in CORNERS}
    if ct.calibration_note:
        lines["bottom_right"].append(ct.calibration_note)
        keep["bottom_right"].append(0)
    avail = max(width - 2 * margin, 1.0)
    for left, right in (("top_left", "top_right"), ("bottom_left", "bottom_right")):
        lw = max((measure(t) for t in lines[left]), default=0.0)
        rw = max((measure(t) for t in lines[right]), default=0.0)
        if lw + gap + rw <= avail:
            continue
        # The left column holds the patient's identity: it gets what it needs up to 60 %.
        # The ID is never broken across lines while the viewport can hold it whole.
        whole = measure(lines[left][1]) if left == "top_left" and len(lines[left]) > 1 else 0.0
        left_budget = min(lw, max(avail * 0.6, avail - gap - rw, min(whole, avail)))
        right_budget = max(avail - gap - left_budget, 0.0)
        if left == "top_left":
            lines[left], keep[left] = _wrap_lines(lines[left], keep[left], left_budget, measure)
        else:
            lines[left] = [_elide(t, left_budget, measure) for t in lines[left]]
        # The calibration note qualifies every number on screen: wrapped, never cut.
        wrapped: list[str] = []
        ranks: list[int | None] = []
        for text, rank in zip(lines[right], keep[right], strict=True):
            pieces = (
                _wrap(text, right_budget, measure)
                if text == ct.calibration_note
                else [_elide(text, right_budget, measure)]
            )
            wrapped += pieces
            ranks += [rank] * len(pieces)
        lines[right], keep[right] = wrapped, ranks
    # Rows: the left and the right column each hold a top and a bottom block, with a line's
    # gap between them (and the side orientation marker in the middle).
    rows = max(int((height - 2 * margin) // max(line_height, 1.0)) - 2, 1)
    for top, bottom in (("top_left", "bottom_left"), ("top_right", "bottom_right")):
        while len(lines[top]) + len(lines[bottom]) > rows:
            candidates = [
                (rank, name, i)
                for name in (top, bottom)
                for i, rank in enumerate(keep[name])
                if rank is not None and rank > 0
            ]
            if not candidates:
                break
            _rank, name, i = max(candidates)
            del lines[name][i]
            del keep[name][i]
    for name in CORNERS:
        lines[name] = [t for t in lines[name] if t]
    return lines


def _keep_rank(corner: str, index: int) -> int | None:
    order = _DROP_ORDER[corner]
    return order[index] if index < len(order) else 1


def _elide(text: str, budget: float, measure: Callable[[str], float]) -> str:
    """``text`` cut at the end with "…" to fit ``budget`` ("" when not even one letter fits)."""
    if measure(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid].rstrip() + "…") <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…" if lo else ""


def _wrap_lines(
    lines: list[str],
    keep: list[int | None],
    budget: float,
    measure: Callable[[str], float],
) -> tuple[list[str], list[int | None]]:
    """Wrap each line to ``budget`` (identity is never cut off); a word longer than the
    budget is broken between characters."""
    out: list[str] = []
    out_keep: list[int | None] = []
    for text, rank in zip(lines, keep, strict=True):
        for piece in _wrap(text, budget, measure):
            out.append(piece)
            out_keep.append(rank)
    return out, out_keep


def _wrap(text: str, budget: float, measure: Callable[[str], float]) -> list[str]:
    if measure(text) <= budget or len(text) <= 1:
        return [text]
    pieces: list[str] = []
    current = ""
    for token in _tokens(text):
        trial = current + token
        if measure(trial.strip()) <= budget or not current.strip():
            current = trial
            continue
        pieces.append(current.strip())
        current = token.lstrip()
    if current.strip():
        pieces.append(current.strip())
    result: list[str] = []
    for piece in pieces:  # a single token still too wide: break between characters
        while measure(piece) > budget and len(piece) > 1:
            cut = max((k for k in range(1, len(piece)) if measure(piece[:k]) <= budget), default=1)
            result.append(piece[:cut])
            piece = piece[cut:]
        result.append(piece)
    return result


def _tokens(text: str) -> list[str]:
    """Words with their leading space; ideographs one by one (they break anywhere)."""
    tokens: list[str] = []
    word = ""
    for ch in text:
        if ch == " " or ord(ch) > 0x2E80:
            if word:
                tokens.append(word)
            word = ch
            if ord(ch) > 0x2E80:
                tokens.append(word)
                word = ""
        else:
            word += ch
    if word:
        tokens.append(word)
    return tokens
