"""Multiplanar reformatting on a synthetic volume of known geometry: a sphere and an oblique
rod, anisotropic voxels (0.8 × 0.8 × 2.0 mm), written as a real DICOM series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.dicom_viewer.index import Library, import_paths
from app.dicom_viewer.loader import FrameSource
from app.dicom_viewer.measurements import length
from app.dicom_viewer.mpr import MprState, reslice
from app.dicom_viewer.volume import NotAVolume, build_volume, check_volume
from tests.support.ct_phantom import PhantomSpec, write_volume

SIZE, SLICES, DXY, DZ = 96, 40, 0.8, 2.0
SPHERE = (np.array([30.0, 40.0, 36.0]), 10.0)  # centre (x, y, z mm), radius
ROD = (np.array([50.0, 15.0, 10.0]), np.array([50.0, 55.0, 66.0]), 3.0)  # in the plane x = 50
ROD_LENGTH = float(np.linalg.norm(ROD[1] - ROD[0]))
SUB = 3  # sub-samples per voxel axis: partial volume, as a scanner would record it


def _fraction_inside(inside) -> np.ndarray:  # noqa: ANN001
    """Per voxel, the fraction of SUB³ sample points for which ``inside(x, y, z)`` holds."""
    offs = (np.arange(SUB) + 0.5) / SUB - 0.5
    frac = np.zeros((SLICES, SIZE, SIZE), np.float32)
    z, y, x = np.meshgrid(
        np.arange(SLICES) * DZ, np.arange(SIZE) * DXY, np.arange(SIZE) * DXY, indexing="ij"
    )
    for oz in offs * DZ:
        for oy in offs * DXY:
            for ox in offs * DXY:
                frac += inside(x + ox, y + oy, z + oz)
    return frac / SUB**3


def _in_sphere(x, y, z):  # noqa: ANN001, ANN202
    c, r = SPHERE
    return (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r * r


def _in_rod(x, y, z):  # noqa: ANN001, ANN202
    a, b, r = ROD
    d = (b - a) / np.linalg.norm(b - a)
    px, py, pz = x - a[0], y - a[1], z - a[2]
    t = px * d[0] + py * d[1] + pz * d[2]
    qx, qy, qz = px - t * d[0], py - t * d[1], pz - t * d[2]
    return (t >= 0) & (t <= ROD_LENGTH) & (qx * qx + qy * qy + qz * qz <= r * r)


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    hu = -1000 + 1500 * _fraction_inside(_in_sphere) + 2000 * _fraction_inside(_in_rod)
    hu = np.round(hu).astype(np.int16)
    spec = PhantomSpec(size=SIZE, slices=SLICES, spacing=DXY, thickness=DZ)
    folder = tmp_path_factory.mktemp("mpr")
    write_volume(folder, lambda i: hu[i], spec)
    library = Library()
    import_paths([folder], library)
    series = library.all_series()[0][2]
    source = FrameSource()
    return build_volume(series.frames, source.get)


def _near(img, point, radius) -> np.ndarray:  # noqa: ANN001
    """Pixels whose centre lies within ``radius`` mm of ``point``."""
    h, w = img.values.shape
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    pts = img.origin + (xs[..., None] - 0.5) * img.col_mm * img.u
    pts = pts + (ys[..., None] - 0.5) * img.row_mm * img.v
    return np.linalg.norm(pts - point, axis=-1) <= radius


def _centroid(img, mask) -> tuple[float, float]:  # noqa: ANN001
    ys, xs = np.nonzero(mask)
    return float(xs.mean()) + 0.5, float(ys.mean()) + 0.5


@pytest.mark.parametrize("plane", ["coronal", "sagittal", "axial"])
def test_sphere_is_where_it_should_be_in_every_plane(volume, plane):
    state = MprState(volume.geometry)
    state.move_to(SPHERE[0])
    img = reslice(volume, state, plane)
    sphere = (img.values > -250) & (img.values < 750)  # the rod is brighter (+1000 HU)
    sphere &= _near(img, SPHERE[0], 1.5 * SPHERE[1])  # not the rod's partial-volume rim
    centre = img.to_volume(*_centroid(img, sphere))
    voxel = np.array([DXY, DXY, DZ])
    # The two in-plane coordinates (the third is the plane's own position).
    normal = np.abs(state.normal(plane)) > 0.5
    error = np.abs(centre - SPHERE[0])[~normal]
    assert np.all(error <= voxel[~normal]), (plane, centre, SPHERE[0])
    # Crosshair and anatomy agree: the crosshair sits on the sphere's centre.
    x, y = img.to_image(state.point)
    assert img.values[int(y), int(x)] > 0


def test_coronal_shows_the_rod_where_it_crosses_and_sagittal_measures_its_length(volume):
    state = MprState(volume.geometry)
    a, b, _r = ROD
    middle = (a + b) / 2
    # Coronal plane (constant y) through the rod's middle: the rod's cross-section is at x=50.
    state.move_to(middle)
    cor = reslice(volume, state, "coronal")
    cx, cy = _centroid(cor, cor.values > 750)  # the rod, not the sphere (+500 HU)
    hit = cor.to_volume(cx, cy)
    assert abs(hit[0] - middle[0]) <= DXY and abs(hit[2] - middle[2]) <= DZ
    # Sagittal plane x = 50 holds the whole rod: measure it as a user would, end to end.
    sag = reslice(volume, state, "sagittal")
    # the voxels' own spacing, no resampling: 0.8 mm across, 2 mm head to foot
    assert (sag.col_mm, sag.row_mm) == (pytest.approx(DXY), pytest.approx(DZ))
    ys, xs = np.nonzero(sag.values > 750)
    pts = np.stack([xs, ys], 1).astype(float) + 0.5
    mean = pts.mean(0)
    direction = np.linalg.svd(pts - mean)[2][0]
    ends = _half_max_ends(sag.values.astype(float), mean, direction)
    measured = length(ends[0], ends[1], sag.calibration)
    assert measured == pytest.approx(ROD_LENGTH, rel=0.005), (measured, ROD_LENGTH)
    # And the ends are where the rod's ends are (±1 voxel).
    got = sorted((sag.to_volume(*e) for e in ends), key=lambda p: p[2])
    for p, q in zip(got, (a, b), strict=True):
        assert abs(p[1] - q[1]) <= DXY and abs(p[2] - q[2]) <= DZ, (p, q)


def _half_max_ends(values, centre, direction):  # noqa: ANN001, ANN202
    """Where the profile along the rod axis falls to half between rod and background."""
    inside, outside = 1000.0, -1000.0
    half = (inside + outside) / 2
    t = np.arange(-120, 120, 0.05)
    xs, ys = centre[0] + t * direction[0] - 0.5, centre[1] + t * direction[1] - 0.5
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    ok = (x0 >= 0) & (y0 >= 0) & (x0 < values.shape[1] - 1) & (y0 < values.shape[0] - 1)
    t, xs, ys, x0, y0 = t[ok], xs[ok], ys[ok], x0[ok], y0[ok]
    fx, fy = xs - x0, ys - y0
    prof = (
        values[y0, x0] * (1 - fx) * (1 - fy)
        + values[y0, x0 + 1] * fx * (1 - fy)
        + values[y0 + 1, x0] * (1 - fx) * fy
        + values[y0 + 1, x0 + 1] * fx * fy
    )
    above = prof > half
    first, last = np.argmax(above), len(above) - 1 - np.argmax(above[::-1])

    def cross(i: int, j: int) -> float:
        return t[i] + (half - prof[i]) / (prof[j] - prof[i]) * (t[j] - t[i])

    t0, t1 = cross(first - 1, first), cross(last, last + 1)
    return [(centre[0] + s * direction[0], centre[1] + s * direction[1]) for s in (t0, t1)]


def test_scrolling_moves_each_plane_by_one_voxel(volume):
    state = MprState(volume.geometry)
    before = state.point.copy()
    state.scroll("axial", 1)
    assert state.point[2] - before[2] == pytest.approx(DZ)
    state.scroll("coronal", -2)
    moved = (state.point - before) @ state.normal("coronal")
    assert moved == pytest.approx(-2 * DXY)
    state.scroll("sagittal", 100000)  # clamped inside the volume
    assert 0 <= state.point[0] <= (SIZE - 1) * DXY


def test_thick_slab_mip_minip_and_average(volume):
    state = MprState(volume.geometry)
    state.move_to(np.array([50.0 + 6 * DXY, 30.0, 30.0]))  # beside the rod (radius 3 mm)
    thin = reslice(volume, state, "sagittal")
    state.slab_mm = 20.0
    state.slab_mode = "mip"
    mip = reslice(volume, state, "sagittal")
    assert thin.values.max() < 0 < mip.values.max()  # the slab takes the rod in
    state.slab_mode = "minip"
    assert reslice(volume, state, "sagittal").values.max() < 0
    state.slab_mode = "average"
    avg = reslice(volume, state, "sagittal").values
    assert avg.shape == mip.values.shape and thin.values.min() <= avg.max() <= mip.values.max()


def test_rotating_the_crosshair_makes_an_oblique_plane_along_the_rod(volume):
    state = MprState(volume.geometry)
    a, b, _r = ROD
    state.move_to((a + b) / 2)
    # In the sagittal view, turn the crosshair (clockwise-positive on screen, rows down)
    # until the axial line lies along the rod.
    u, v = state.axes["sagittal"]
    d = (b - a) / np.linalg.norm(b - a)
    slope = math.degrees(math.atan2(d @ v, d @ u))
    state.rotate("sagittal", slope)
    assert state.oblique
    img = reslice(volume, state, "axial")
    # The whole rod now lies in the (oblique) axial plane: its bright length is the rod's.
    mask = img.values > 0
    ys, xs = np.nonzero(mask)
    extent = max(np.ptp(xs) * img.col_mm, np.ptp(ys) * img.row_mm)
    assert extent == pytest.approx(ROD_LENGTH, abs=4 * DZ)
    # The crosshair lines in the sagittal view follow the rotation.
    lines = state.crosshair_lines("sagittal")
    dx, dy = lines["axial"]
    assert (
        abs(abs(math.degrees(math.atan2(dy, dx))) % 180 - abs(slope)) < 1.0
        or abs(180 - abs(math.degrees(math.atan2(dy, dx))) - abs(slope)) < 1.0
    )


def _frames(tmp_path, positions=None, orientation=(1, 0, 0, 0, 1, 0), slices=6):
    spec = PhantomSpec(size=16, slices=slices, spacing=1.0, thickness=2.0)
    write_volume(
        tmp_path,
        lambda i: np.zeros((16, 16), np.int16),
        spec,
        orientation=orientation,
        positions=positions,
    )
    library = Library()
    import_paths([tmp_path], library)
    return library.all_series()[0][2].frames


@pytest.mark.parametrize(
    ("positions", "orientation", "message"),
    [
        ([(0, 0.5 * i, 2.0 * i) for i in range(6)], (1, 0, 0, 0, 1, 0), "gantry tilt"),
        ([(0, 0, z) for z in (0, 2, 4, 8, 10, 12)], (1, 0, 0, 0, 1, 0), "1 slice(s) missing"),
        ([(0, 0, z) for z in (0, 2, 4, 5.5, 7, 8.5)], (1, 0, 0, 0, 1, 0), "spacing varies"),
    ],
)
def test_series_that_are_not_volumes_say_why(tmp_path, positions, orientation, message):
    with pytest.raises(NotAVolume, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_volume(_frames(tmp_path, positions, orientation))


def test_a_plain_stack_is_a_volume(tmp_path):
    geometry = check_volume(_frames(tmp_path))
    assert geometry.spacing == (1.0, 1.0, 2.0) and geometry.shape == (6, 16, 16)
