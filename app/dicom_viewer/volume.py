"""A series as a 3-D volume for multiplanar reformatting, or the reason it is not one.

A stack of slices is a volume only when every slice has the same orientation, size and
pixel spacing, and the slice positions step evenly along the slice normal: a gantry-tilted
CT (positions sheared off the normal), varying spacing or a missing slice would put
reformatted anatomy in the wrong place, so those are refused with the reason.

Coordinates: voxel (k, r, c) = (slice, row, column). "Volume millimetres" are
(x, y, z) = (c·dx, r·dy, k·dz) along the image row, image column and slice-normal
directions of the acquisition; ``to_patient`` maps them to patient (LPS) coordinates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.dicom_viewer.frames import frame_header
from app.dicom_viewer.index import FrameRef
from app.dicom_viewer.pipeline import ModalityTransform, is_color, stored_range

# Relative tolerance on slice steps (scanners round positions to 0.01 mm or so).
STEP_TOLERANCE = 0.05
ORIENTATION_TOLERANCE = 1e-3
MIN_SLICES = 3


class NotAVolume(ValueError):
    """The series cannot be reformatted. ``code`` and ``values`` let the GUI say why in the
    user's language; the message is the English text (logs, tests)."""

    def __init__(self, code: str, message: str, *values: object) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


@dataclass(frozen=True)
class VolumeGeometry:
    """Where the voxels are: spacing (dx, dy, dz) mm and the acquisition axes in LPS."""

    origin: np.ndarray  # patient position of voxel (0, 0, 0)
    row_dir: np.ndarray  # patient direction of increasing column (image x)
    col_dir: np.ndarray  # patient direction of increasing row (image y)
    normal: np.ndarray  # patient direction of increasing slice index
    spacing: tuple[float, float, float]  # dx (between columns), dy (rows), dz (slices)
    shape: tuple[int, int, int]  # slices, rows, columns

    @property
    def extent_mm(self) -> tuple[float, float, float]:
        """Size (x, y, z) in mm, from the first to the last voxel centre."""
        k, r, c = self.shape
        dx, dy, dz = self.spacing
        return (c - 1) * dx, (r - 1) * dy, (k - 1) * dz

    def to_patient(self, xyz: np.ndarray) -> np.ndarray:
        """Volume millimetres → patient (LPS) millimetres."""
        x, y, z = np.asarray(xyz, float)
        return self.origin + x * self.row_dir + y * self.col_dir + z * self.normal

    def from_patient(self, lps: np.ndarray) -> np.ndarray:
        """Patient (LPS) millimetres → volume millimetres."""
        d = np.asarray(lps, float) - self.origin
        return np.array([d @ self.row_dir, d @ self.col_dir, d @ self.normal])

    def direction_to_volume(self, lps_direction: np.ndarray) -> np.ndarray:
        """A patient direction expressed along the volume axes (x, y, z)."""
        v = np.asarray(lps_direction, float)
        return np.array([v @ self.row_dir, v @ self.col_dir, v @ self.normal])


@dataclass
class Volume:
    """Voxel values in modality units (HU for CT), and their geometry."""

    voxels: np.ndarray  # (slices, rows, columns), int16 or float32
    geometry: VolumeGeometry
    modality: str = ""
    frames: list[FrameRef] | None = None  # the source frames, slice order


def _vec(value: object, n: int) -> np.ndarray | None:
    try:
        arr = np.array([float(v) for v in value], dtype=np.float64)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == (n,) and np.all(np.isfinite(arr)) else None


def check_volume(frames: list[FrameRef]) -> VolumeGeometry:
    """The geometry of ``frames`` as a volume, or NotAVolume saying why not."""
    if len(frames) < MIN_SLICES:
        raise NotAVolume(
            "too_few",
            f"only {len(frames)} image(s): a volume needs at least {MIN_SLICES}",
            len(frames),
            MIN_SLICES,
        )
    headers = [frame_header(f.instance.header, f.frame) for f in frames]
    first = headers[0]
    if is_color(first):
        raise NotAVolume("colour", "colour images are not reformatted")
    ori = _vec(first.get("ImageOrientationPatient"), 6)
    spacing = _vec(first.get("PixelSpacing"), 2)
    if ori is None:
        raise NotAVolume(
            "no_orientation", "the images carry no orientation (Image Orientation (Patient))"
        )
    if spacing is None or np.any(spacing <= 0):
        raise NotAVolume("no_spacing", "the images carry no pixel spacing")
    size = (int(first.Rows), int(first.Columns))
    positions = []
    for i, h in enumerate(headers):
        pos = _vec(h.get("ImagePositionPatient"), 3)
        if pos is None:
            raise NotAVolume(
                "no_position", f"image {i + 1} has no position (Image Position (Patient))", i + 1
            )
        other = _vec(h.get("ImageOrientationPatient"), 6)
        if other is None or np.max(np.abs(other - ori)) > ORIENTATION_TOLERANCE:
            raise NotAVolume(
                "orientation", f"image {i + 1} is oriented differently from the first", i + 1
            )
        if (int(h.Rows), int(h.Columns)) != size:
            raise NotAVolume("size", f"image {i + 1} has a different size from the first", i + 1)
        sp = _vec(h.get("PixelSpacing"), 2)
        if sp is None or np.max(np.abs(sp - spacing)) > 1e-4 * max(spacing):
            raise NotAVolume(
                "pixel_spacing",
                f"image {i + 1} has a different pixel spacing from the first",
                i + 1,
            )
        positions.append(pos)
    row_dir, col_dir = ori[:3] / np.linalg.norm(ori[:3]), ori[3:] / np.linalg.norm(ori[3:])
    normal = np.cross(row_dir, col_dir)
    pos = np.array(positions)
    along = (pos - pos[0]) @ normal
    order = np.argsort(along, kind="stable")
    if not np.array_equal(order, np.arange(len(order))):
        raise NotAVolume("order", "the slices are not in position order")
    steps = np.diff(along)
    if np.any(steps <= 1e-6):
        raise NotAVolume("duplicate", "two slices share a position (duplicates or several stacks)")
    dz = float(np.median(steps))
    # In-plane drift of the positions: a gantry tilt shears the stack off the normal.
    drift = (pos - pos[0]) - np.outer(along, normal)
    shear = np.linalg.norm(drift[-1]) / max(along[-1], 1e-6)
    if shear > 0.01:
        angle = float(np.degrees(np.arctan(shear)))
        raise NotAVolume(
            "tilt", f"gantry tilt of about {angle:.1f}°: the slices are sheared", f"{angle:.1f}"
        )
    if np.any(np.abs(steps - dz) > STEP_TOLERANCE * dz):
        big = steps.max()
        if big > 1.5 * dz:
            missing = int(np.sum(np.round(steps / dz) - 1))
            raise NotAVolume(
                "missing",
                f"{missing} slice(s) missing (a gap of {big:.2f} mm where slices are "
                f"{dz:.2f} mm apart)",
                missing,
                f"{big:.2f}",
                f"{dz:.2f}",
            )
        low, high = f"{steps.min():.2f}", f"{steps.max():.2f}"
        raise NotAVolume("varying", f"slice spacing varies from {low} to {high} mm", low, high)
    return VolumeGeometry(
        origin=pos[0],
        row_dir=row_dir,
        col_dir=col_dir,
        normal=normal,
        spacing=(float(spacing[1]), float(spacing[0]), dz),
        shape=(len(frames), size[0], size[1]),
    )


def build_volume(
    frames: list[FrameRef],
    stored: Callable[[FrameRef], np.ndarray],
    cancelled: Callable[[], bool] | None = None,
) -> Volume:
    """Stack the frames (``stored(ref)`` gives their stored values, e.g. from the frame
    cache) into modality values. Runs on a worker; raises NotAVolume."""
    geometry = check_volume(frames)
    headers = [frame_header(f.instance.header, f.frame) for f in frames]
    transforms = [ModalityTransform.from_dataset(h) for h in headers]
    integral = all(
        t.table is None and float(t.slope).is_integer() and float(t.intercept).is_integer()
        for t in transforms
    )
    k, rows, cols = geometry.shape
    voxels = np.empty((k, rows, cols), np.int16 if integral else np.float32)
    for i, (ref, t) in enumerate(zip(frames, transforms, strict=True)):
        if cancelled is not None and cancelled():
            raise NotAVolume("cancelled", "cancelled")
        arr = stored(ref)
        if arr.shape != (rows, cols):
            raise NotAVolume(
                "decoded_size", f"image {i + 1} decoded to {arr.shape}, not {rows}×{cols}", i + 1
            )
        if integral:
            _to_int16(arr, int(t.slope), int(t.intercept), voxels[i], stored_range(headers[i]))
        else:
            voxels[i] = t.apply(arr)
    modality = str(headers[0].get("Modality", "") or "")
    return Volume(voxels, geometry, modality, list(frames))


def _to_int16(
    stored: np.ndarray, slope: int, intercept: int, out: np.ndarray, bounds: tuple[int, int]
) -> None:
    """slope·stored + intercept into an int16 slice, without a wider temporary when the
    values fit (a CT's 12-bit stored values with intercept -1024: one pass, in place).
    ``bounds``: the stored values' range by the header (decoders mask to Bits Stored)."""
    if slope == 1 and stored.dtype.kind in "iu" and stored.dtype.itemsize == 2:
        lo, hi = bounds
        if -32768 <= lo + intercept and hi + intercept <= 32767 and hi < 32768:
            np.add(stored.view(np.int16), np.int16(intercept), out=out)
            return
    wide = stored.astype(np.int32) * slope + intercept
    np.clip(wide, -32768, 32767, out=wide)
    out[...] = wide
