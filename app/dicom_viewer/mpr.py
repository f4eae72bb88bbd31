"""Multiplanar reformatting: axial, coronal and sagittal planes through a shared crosshair,
oblique planes by rotating the crosshair, thick slabs (MIP / MinIP / average).

Qt-free: ``MprState`` is the interaction state machine (crosshair point, plane axes, slab,
window) the widgets drive; ``reslice`` turns it into a plane image with square pixels of a
known size, so measurements in any plane are calibrated. Planes aligned with the voxel grid
(the usual case) are cut straight out of the array; planes turned about one voxel axis
share one 2-D gather across its layers; the rest are sampled trilinearly.

Plane images use the viewer's pixel convention: pixel (i, j) covers [i, i+1) × [j, j+1), its
centre at volume millimetres ``origin + i·col_mm·u + j·row_mm·v``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np

from app.dicom_viewer.calibration import Calibration
from app.dicom_viewer.pipeline import Window, _voi_window
from app.dicom_viewer.volume import Volume, VolumeGeometry

PLANES = ("axial", "coronal", "sagittal")
MAX_OBLIQUE = 640
SLAB_MODES = ("mip", "minip", "average")
# Patient directions (LPS) of each plane's image columns (u) and rows (v), radiological
# convention: patient's left on the viewer's right, head up, anterior up (axial).
_PATIENT_AXES = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}


@dataclass
class PlaneImage:
    """One reformatted image and where its pixels are. Planes along the voxel grid keep the
    voxels' own spacing (no resampling: exact values, fast); oblique directions are sampled
    at the finest spacing (or coarser, up to MAX_OBLIQUE pixels). Either way measurements
    use ``calibration``."""

    values: np.ndarray  # (rows, columns) modality values
    col_mm: float  # pixel width (along u)
    row_mm: float  # pixel height (along v)
    origin: np.ndarray  # volume mm of the centre of pixel (0, 0)
    u: np.ndarray  # volume-frame unit vector along image columns (x)
    v: np.ndarray  # volume-frame unit vector along image rows (y)

    @property
    def calibration(self) -> Calibration:
        return Calibration(self.row_mm, self.col_mm, "reformatted plane")

    @property
    def size_mm(self) -> tuple[float, float]:
        h, w = self.values.shape[:2]
        return w * self.col_mm, h * self.row_mm

    def to_image(self, point_mm: np.ndarray) -> tuple[float, float]:
        """Volume mm → image pixel coordinates (x, y) in the viewer's convention."""
        d = np.asarray(point_mm, float) - self.origin
        return float(d @ self.u / self.col_mm + 0.5), float(d @ self.v / self.row_mm + 0.5)

    def to_volume(self, x: float, y: float) -> np.ndarray:
        """Image pixel coordinates → volume mm (on the plane)."""
        return self.origin + (x - 0.5) * self.col_mm * self.u + (y - 0.5) * self.row_mm * self.v


def _snap(direction: np.ndarray) -> np.ndarray:
    """The signed volume axis nearest to ``direction``."""
    axis = int(np.argmax(np.abs(direction)))
    out = np.zeros(3)
    out[axis] = 1.0 if direction[axis] >= 0 else -1.0
    return out


def standard_axes(geometry: VolumeGeometry, plane: str) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of an axial/coronal/sagittal plane in the volume frame, snapped to the voxel
    grid (an MR acquired a few degrees oblique is reformatted along its own axes)."""
    u_lps, v_lps = (np.array(a) for a in _PATIENT_AXES[plane])
    u = _snap(geometry.direction_to_volume(u_lps))
    v = _snap(geometry.direction_to_volume(v_lps))
    if abs(u @ v) > 0.5:  # both snapped to one axis (very oblique acquisition)
        rest = [a for a in range(3) if a != int(np.argmax(np.abs(u)))]
        v = np.zeros(3)
        v[rest[0]] = 1.0
    return u, v


def rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rotation matrix about ``axis`` (Rodrigues)."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    t = math.radians(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)


@dataclass
class MprState:
    """Crosshair, plane axes, slab and window shared by the three views."""

    geometry: VolumeGeometry
    point: np.ndarray = field(default_factory=lambda: np.zeros(3))  # volume mm
    axes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    slab_mm: float = 0.0  # 0: a thin plane
    slab_mode: str = "mip"
    window: Window | None = None

    def __post_init__(self) -> None:
        if not self.axes:
            self.reset_axes()
        if not np.any(self.point):
            self.point = self._on_grid(np.array(self.geometry.extent_mm) / 2.0)

    def reset_axes(self) -> None:
        """Back to the three orthogonal planes."""
        self.axes = {p: standard_axes(self.geometry, p) for p in PLANES}

    def normal(self, plane: str) -> np.ndarray:
        u, v = self.axes[plane]
        n = np.cross(u, v)
        return n / np.linalg.norm(n)

    def step_mm(self, plane: str) -> float:
        """One scroll step along the plane's normal: the voxel spacing along it."""
        n = np.abs(self.normal(plane))
        return float(1.0 / np.sum(n / np.array(self.geometry.spacing)))

    def scroll(self, plane: str, steps: int) -> None:
        """Move the crosshair (hence this plane) along the plane's normal, inside the volume."""
        self.point = self._inside(self.point + steps * self.step_mm(plane) * self.normal(plane))

    def move_to(self, point_mm: np.ndarray) -> None:
        """Put the crosshair at a point (clicked in any view), on the nearest voxel centre:
        the planes through it then cut voxel layers exactly."""
        self.point = self._on_grid(self._inside(np.asarray(point_mm, float)))

    def _inside(self, p: np.ndarray) -> np.ndarray:
        return np.clip(p, 0.0, np.array(self.geometry.extent_mm))

    def _on_grid(self, p: np.ndarray) -> np.ndarray:
        spacing = np.array(self.geometry.spacing)
        return np.round(p / spacing) * spacing

    def rotate(self, plane: str, degrees: float) -> None:
        """Rotate the crosshair shown in ``plane``: the other two planes turn about its
        normal and become oblique; ``plane`` itself stays as it is."""
        r = rotation(self.normal(plane), degrees)
        for other in PLANES:
            if other != plane:
                u, v = self.axes[other]
                self.axes[other] = (r @ u, r @ v)

    def crosshair_lines(self, plane: str) -> dict[str, tuple[float, float]]:
        """For each other plane, the direction (dx, dy) of its line in ``plane``'s image."""
        u, v = self.axes[plane]
        n = self.normal(plane)
        out = {}
        for other in PLANES:
            if other == plane:
                continue
            d = np.cross(self.normal(other), n)
            norm = np.linalg.norm(d)
            if norm < 1e-9:
                continue
            d /= norm
            out[other] = (float(d @ u), float(d @ v))
        return out

    @property
    def oblique(self) -> bool:
        return any(not (_aligned(u) and _aligned(v)) for u, v in (self.axes[p] for p in PLANES))


def _aligned(vec: np.ndarray) -> bool:
    return float(np.max(np.abs(vec))) > 1.0 - 1e-9


def pixel_size(geometry: VolumeGeometry) -> float:
    """Square pixel of reformatted images: the finest voxel spacing (no detail is lost)."""
    return float(min(geometry.spacing))


def reslice(volume: Volume, state: MprState, plane: str) -> PlaneImage:
    """The image of ``plane`` through the crosshair (a slab when ``state.slab_mm`` > 0)."""
    geometry = volume.geometry
    u, v = state.axes[plane]
    pix = pixel_size(geometry)
    n = state.normal(plane)
    count = 1
    if state.slab_mm > 0:
        count = max(1, int(round(state.slab_mm / state.step_mm(plane))) | 1)  # odd: centred
    offsets = (np.arange(count) - (count - 1) / 2.0) * state.step_mm(plane)
    cut = _Cut(state.point, u, v, n, offsets, pix, state.slab_mode)
    if _aligned(u) and _aligned(v):
        return _reslice_aligned(volume, cut)
    if _aligned(u) or _aligned(v):  # turned about one axis: the usual oblique plane
        return _reslice_tilted(volume, cut)
    return _reslice_oblique(volume, cut)


class _Cut(NamedTuple):
    """Where a plane cuts the volume: centre point, in-plane axes u/v, normal n, slab layer
    offsets along n (mm), output pixel size (mm) and slab mode."""

    point: np.ndarray
    u: np.ndarray
    v: np.ndarray
    n: np.ndarray
    offsets: np.ndarray
    pix: float
    mode: str


def _reduce(stack: np.ndarray, axis: int, mode: str) -> np.ndarray:
    if stack.shape[axis] == 1:
        return np.take(stack, 0, axis=axis)
    if mode == "mip":
        return stack.max(axis=axis)
    if mode == "minip":
        return stack.min(axis=axis)
    return stack.mean(axis=axis, dtype=np.float32)


def _reslice_aligned(volume: Volume, cut: _Cut) -> PlaneImage:
    point, u, v, n, offsets, pix, mode = cut
    g = volume.geometry
    # volume-frame axis index (0 = x/columns, 1 = y/rows, 2 = z/slices) → array axis
    array_axis = {0: 2, 1: 1, 2: 0}
    au, av, an = (int(np.argmax(np.abs(a))) for a in (u, v, n))
    spacing = g.spacing
    sizes = {0: g.shape[2], 1: g.shape[1], 2: g.shape[0]}
    # Slab: the voxel layers along the normal axis, interpolated between two layers.
    along = (point[an] + offsets) / spacing[an]
    along = np.clip(along, 0, sizes[an] - 1)
    layers = []
    for pos in along:
        lo = int(math.floor(pos + 1e-3))
        hi = min(lo + 1, sizes[an] - 1)
        w = max(pos - lo, 0.0)
        a = _layer(volume.voxels, array_axis[an], lo)
        if 1e-3 < w < 1 - 1e-3 and hi != lo:
            b = _layer(volume.voxels, array_axis[an], hi)
            layer = a + (b.astype(np.float32) - a) * np.float32(w)
            layers.append(layer.astype(a.dtype) if a.dtype.kind == "i" else layer)
        else:
            layers.append(a)
    plane = _reduce(np.stack(layers), 0, mode) if len(layers) > 1 else layers[0]
    # ``plane`` has the two remaining array axes in array order; name them by volume axis.
    remaining = [ax for ax in (2, 1, 0) if ax != an]  # volume axes in array-axis order
    if remaining[0] != av:  # want rows = v, columns = u
        plane = plane.T
    origin = np.zeros(3)
    origin[an] = point[an]
    if v[av] < 0:
        plane = plane[::-1]
        origin[av] = (sizes[av] - 1) * spacing[av]
    if u[au] < 0:
        plane = plane[:, ::-1]
        origin[au] = (sizes[au] - 1) * spacing[au]
    return PlaneImage(
        np.ascontiguousarray(plane), spacing[au], spacing[av], origin, u.copy(), v.copy()
    )


def _reslice_tilted(volume: Volume, cut: _Cut) -> PlaneImage:
    point, u, v, n, offsets, pix, mode = cut
    """A plane that keeps one voxel axis (turned about it): every voxel layer along that
    axis is sampled on the same line, so one 2-D bilinear gather serves all layers (several
    times cheaper than trilinear sampling). That axis keeps its own spacing."""
    g = volume.geometry
    rows_kept = _aligned(v)
    kept = v if rows_kept else u
    tilted = u if rows_kept else v
    a = int(np.argmax(np.abs(kept)))
    array_axis = {0: 2, 1: 1, 2: 0}
    volume_axis = {2: 0, 1: 1, 0: 2}
    vox = np.moveaxis(volume.voxels, array_axis[a], 0)
    r1, r2 = sorted(ax for ax in (0, 1, 2) if ax != array_axis[a])
    vb, vc = volume_axis[r1], volume_axis[r2]
    spacing = g.spacing
    count_a = vox.shape[0]
    ext = np.array(g.extent_mm)
    corners = np.array([[x, y, z] for x in (0, ext[0]) for y in (0, ext[1]) for z in (0, ext[2])])
    along = (corners - point) @ tilted
    s0 = float(along.min())
    pix = max(pix, float(along.max() - s0) / (MAX_OBLIQUE - 1))
    samples = int(math.floor((along.max() - s0) / pix)) + 1
    t = s0 + np.arange(samples) * pix
    layers = []
    nb, nc = vox.shape[1], vox.shape[2]
    for off in offsets:
        pb = (point[vb] + off * n[vb] + t * tilted[vb]) / spacing[vb]
        pc = (point[vc] + off * n[vc] + t * tilted[vc]) / spacing[vc]
        inside = (pb >= 0) & (pb <= nb - 1) & (pc >= 0) & (pc <= nc - 1)
        b0 = np.clip(np.floor(pb), 0, max(nb - 2, 0)).astype(np.intp)
        c0 = np.clip(np.floor(pc), 0, max(nc - 2, 0)).astype(np.intp)
        fb, fc = (pb - b0).astype(np.float32), (pc - c0).astype(np.float32)
        b1, c1 = np.minimum(b0 + 1, nb - 1), np.minimum(c0 + 1, nc - 1)
        line = (
            vox[:, b0, c0] * ((1 - fb) * (1 - fc))
            + vox[:, b0, c1] * ((1 - fb) * fc)
            + vox[:, b1, c0] * (fb * (1 - fc))
            + vox[:, b1, c1] * (fb * fc)
        ).astype(np.float32)
        line[:, ~inside] = float(volume.voxels.min()) if volume.voxels.size else 0.0
        layers.append(line)  # (layers along a, samples along the tilted direction)
    values = _reduce(np.stack(layers), 0, mode) if len(layers) > 1 else layers[0]
    origin = point + s0 * tilted
    if kept[a] > 0:
        origin[a] = 0.0
    else:
        values = values[::-1]
        origin[a] = (count_a - 1) * spacing[a]
    if rows_kept:
        return PlaneImage(np.ascontiguousarray(values), pix, spacing[a], origin, u.copy(), v.copy())
    return PlaneImage(np.ascontiguousarray(values.T), spacing[a], pix, origin, u.copy(), v.copy())


def _layer(voxels: np.ndarray, axis: int, index: int) -> np.ndarray:
    """One voxel layer as a view (basic indexing: no gather, no copy)."""
    key: list[slice | int] = [slice(None)] * 3
    key[axis] = index
    return voxels[tuple(key)]


def _reslice_oblique(volume: Volume, cut: _Cut) -> PlaneImage:
    point, u, v, n, offsets, pix, mode = cut
    g = volume.geometry
    ext = np.array(g.extent_mm)
    corners = np.array([[x, y, z] for x in (0, ext[0]) for y in (0, ext[1]) for z in (0, ext[2])])
    du, dv = (corners - point) @ u, (corners - point) @ v
    a0, b0 = du.min(), dv.min()
    # An oblique plane across a whole CT spans more pixels than any slice: keep it within
    # MAX_OBLIQUE pixels a side so that rotating stays interactive (the pixel is then a
    # little coarser than the finest voxel spacing; it is still square and calibrated).
    pix = max(pix, float(max(du.max() - a0, dv.max() - b0)) / (MAX_OBLIQUE - 1))
    width = int(math.floor((du.max() - a0) / pix)) + 1
    height = int(math.floor((dv.max() - b0) / pix)) + 1
    origin = point + a0 * u + b0 * v
    jj, ii = np.mgrid[0:height, 0:width].astype(np.float32)
    layers = []
    for off in offsets:
        base = origin + off * n
        pts = [
            base[c] + ii * np.float32(pix * u[c]) + jj * np.float32(pix * v[c]) for c in range(3)
        ]
        layers.append(_trilinear(volume, pts))
    values = _reduce(np.stack(layers), 0, mode) if len(layers) > 1 else layers[0]
    return PlaneImage(values, pix, pix, origin, u.copy(), v.copy())


def _trilinear(volume: Volume, pts_mm: list[np.ndarray]) -> np.ndarray:
    """Sample the volume at points (x, y, z mm arrays); outside it, the volume's minimum."""
    g = volume.geometry
    k, r, c = g.shape
    x = pts_mm[0] / np.float32(g.spacing[0])
    y = pts_mm[1] / np.float32(g.spacing[1])
    z = pts_mm[2] / np.float32(g.spacing[2])
    inside = (x >= 0) & (x <= c - 1) & (y >= 0) & (y <= r - 1) & (z >= 0) & (z <= k - 1)
    x0 = np.clip(np.floor(x), 0, max(c - 2, 0)).astype(np.intp)
    y0 = np.clip(np.floor(y), 0, max(r - 2, 0)).astype(np.intp)
    z0 = np.clip(np.floor(z), 0, max(k - 2, 0)).astype(np.intp)
    fx, fy, fz = x - x0, y - y0, z - z0
    vox = volume.voxels
    flat = vox.reshape(-1)
    # One flat index per sample and offsets to its 7 neighbours: 1-D gathers are much
    # cheaper than 3-D fancy indexing. Clipping above keeps every neighbour inside.
    base = (z0 * r + y0) * c + x0
    dx_, dy_, dz_ = (1 if c > 1 else 0), (c if r > 1 else 0), (r * c if k > 1 else 0)

    def at(offset: int) -> np.ndarray:
        return np.take(flat, base + offset).astype(np.float32)

    c00 = at(0) * (1 - fx) + at(dx_) * fx
    c01 = at(dy_) * (1 - fx) + at(dy_ + dx_) * fx
    c10 = at(dz_) * (1 - fx) + at(dz_ + dx_) * fx
    c11 = at(dz_ + dy_) * (1 - fx) + at(dz_ + dy_ + dx_) * fx
    out = (c00 * (1 - fy) + c01 * fy) * (1 - fz) + (c10 * (1 - fy) + c11 * fy) * fz
    out[~inside] = float(vox.min()) if vox.size else 0.0
    return out


def default_window(volume: Volume) -> Window:
    """CT: a soft-tissue window; otherwise the data's 1st–99th percentile."""
    if volume.modality == "CT":
        return Window(40.0, 400.0)
    sample = volume.voxels[:: max(1, volume.voxels.shape[0] // 16), ::4, ::4]
    lo, hi = np.percentile(sample, [1, 99])
    return Window(float(lo + hi) / 2.0, max(float(hi - lo), 1.0))


@lru_cache(maxsize=8)
def _int16_lut(center: float, width: float, function: str, invert: bool) -> np.ndarray:
    """Indexed by the int16 value's bit pattern read as uint16 (no widening per pixel)."""
    domain = np.arange(-32768, 32768, dtype=np.float64)
    low, high = (255.0, 0.0) if invert else (0.0, 255.0)
    lut = np.clip(_voi_window(domain, Window(center, width, function), low, high), 0, 255)
    return np.roll(lut.astype(np.uint8), -32768)


def to_display(values: np.ndarray, window: Window, invert: bool = False) -> np.ndarray:
    """Modality values → uint8 with the (shared) window, DCMTK's window arithmetic."""
    if values.dtype == np.int16:
        lut = _int16_lut(window.center, window.width, window.function, invert)
        return np.take(lut, values.view(np.uint16))
    low, high = (255.0, 0.0) if invert else (0.0, 255.0)
    return np.clip(_voi_window(values.astype(np.float64), window, low, high), 0, 255).astype(
        np.uint8
    )


@dataclass
class RenderedPlane:
    """A plane rendered for a viewport: the RGB pixels, the plane image they come from and
    the image→viewport matrix (for crosshair, measurements and clicks)."""

    rgb: np.ndarray  # uint8, grey (rows, columns): the widget shows it as Grayscale8
    image: PlaneImage
    matrix: np.ndarray


def snapshot(state: MprState) -> MprState:
    """A copy a worker can render from while the GUI goes on changing the original."""
    return MprState(
        state.geometry,
        state.point.copy(),
        {p: (u.copy(), v.copy()) for p, (u, v) in state.axes.items()},
        state.slab_mm,
        state.slab_mode,
        state.window,
    )


def plane_to_viewport(image: PlaneImage, viewport: tuple[int, int]) -> np.ndarray:
    """3×3 matrix: image pixel coordinates → viewport, fitted and centred, true to scale
    in both directions (a 2 mm slice step is drawn 2/0.75 times a 0.75 mm pixel)."""
    h, w = image.values.shape[:2]
    width_mm, height_mm = image.size_mm
    zoom = min(viewport[0] / width_mm, viewport[1] / height_mm)  # viewport px per mm
    sx, sy = zoom * image.col_mm, zoom * image.row_mm
    return np.array(
        [
            [sx, 0.0, viewport[0] / 2.0 - sx * w / 2.0],
            [0.0, sy, viewport[1] / 2.0 - sy * h / 2.0],
            [0.0, 0.0, 1.0],
        ]
    )


def render_plane(
    volume: Volume, state: MprState, plane: str, viewport: tuple[int, int]
) -> RenderedPlane:
    """Reslice, window and fit one plane into a viewport (run on a worker). The window is
    applied to the plane's own pixels, then one affine warp scales them into the viewport."""
    image = reslice(volume, state, plane)
    window = state.window or default_window(volume)
    gray = to_display(image.values, window)
    matrix = plane_to_viewport(image, viewport)
    # cv2 samples pixel centres at integer coordinates; our pixel (0, 0) is centred at 0.5.
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], float)
    unshift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], float)
    m = (unshift @ matrix @ shift)[:2]
    out = cv2.warpAffine(
        gray, m, viewport, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return RenderedPlane(out, image, matrix)
