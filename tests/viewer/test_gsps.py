"""GSPS written with highdicom: valid for DCMTK, restores the view, keeps Chinese text."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from app.dicom_viewer.annotations import Annotation
from app.dicom_viewer.decoders import read_header
from app.dicom_viewer.gsps import read_gsps, write_gsps
from app.dicom_viewer.pipeline import Window
from app.dicom_viewer.shutters import Shutter
from app.dicom_viewer.view_state import ViewState

from .conftest import sample

needs_pschk = pytest.mark.skipif(shutil.which("dcmpschk") is None, reason="dcmtk missing")


def _dcmpschk(path) -> tuple[int, list[str]]:
    r = subprocess.run(["dcmpschk", str(path)], capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    errors = [line for line in out.splitlines() if line.startswith("E:") and "Affected" in line]
    return r.returncode, errors + (["Test failed"] if "Test failed" in out else [])


def _annotations(sop: str, author: str, text: str) -> list[Annotation]:
    return [
        Annotation("length", [(10, 10), (50, 60)], author, sop),
        Annotation("angle", [(10, 100), (40, 90), (60, 120)], author, sop),
        Annotation("ellipse", [(20, 20), (60, 50)], author, sop),
        Annotation("rectangle", [(70, 70), (100, 110)], author, sop),
        Annotation("freehand", [(5, 5), (30, 8), (25, 40)], author, sop),
        Annotation("arrow", [(100, 10), (80, 30)], author, sop, text=text),
        Annotation("text", [(90, 90)], author, sop, text=text),
    ]


@needs_pschk
def test_gsps_passes_dcmpschk_and_restores_view(tmp_path):
    from tests.support.ct_phantom import PhantomSpec, write_phantom

    # ASCII identity: DCMTK 3.6.7's dcmpschk lexer rejects any 8-bit text (see next test).
    images = write_phantom(
        tmp_path / "ct", PhantomSpec(size=200, slices=3, patient_name="Zhang^San")
    )
    headers = [read_header(p)[0] for p in images]
    before = [p.read_bytes() for p in images]
    sop = str(headers[1].SOPInstanceUID)
    state = ViewState(
        window=Window(-600, 1500),
        zoom=2.5,
        center=(100.0, 120.0),
        rotation=90,
        flip_h=True,
        invert=False,
        frame_index=1,
    )
    out = tmp_path / "pr.dcm"
    write_gsps(
        out,
        headers,
        state,
        _annotations(sop, "Dr Li", "nodule"),
        "Dr Li",
        displayed_area=(40, 60, 160, 180),
    )
    code, errors = _dcmpschk(out)
    assert code == 0 and not errors, errors
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.1"
    # our 90° after a flip is the standard's 270° before it (PS3.3 C.10.6 order)
    assert ds.ImageRotation == 270 and ds.ImageHorizontalFlip == "Y"
    assert ds.SoftcopyVOILUTSequence[0].WindowCenter == -600
    objs = ds.GraphicAnnotationSequence[0].GraphicObjectSequence
    types = {o.GraphicType for o in objs}
    assert types == {"POLYLINE"}  # closed shapes as closed POLYLINE, never "POLYGON"
    closed = [o for o in objs if list(o.GraphicData[:2]) == list(o.GraphicData[-2:])]
    assert len(closed) == 3
    content = read_gsps(out)
    assert content.state == state
    assert [a.kind for a in content.annotations] == [a.kind for a in _annotations(sop, "", "")]
    assert content.annotations[0].author == "Dr Li"
    assert set(content.referenced_sop_uids) == {str(h.SOPInstanceUID) for h in headers}
    assert [p.read_bytes() for p in images] == before  # originals never modified


@needs_pschk
def test_chinese_text_survives_and_only_dcmtk_ascii_lexer_complains(tmp_path, phantom_dir):
    path = sorted(phantom_dir.glob("*.dcm"))[0]
    header = read_header(path)[0]
    out = tmp_path / "pr_zh.dcm"
    write_gsps(
        out,
        [header],
        ViewState(),
        _annotations(str(header.SOPInstanceUID), "李医生", "右肺结节"),
        "李医生",
    )
    ds = pydicom.dcmread(out)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    texts = [t.UnformattedTextValue for t in ds.GraphicAnnotationSequence[0].TextObjectSequence]
    assert "右肺结节" in texts
    assert str(ds.ContentCreatorName) == "李医生"
    # Another reader (highdicom/pydicom) sees the same text; our model round-trips exactly.
    assert read_gsps(out).annotations[-1].text == "右肺结节"
    # dcmpschk 3.6.7's value lexer accepts only 7-bit characters in ST/PN; every error it
    # reports must be about those text attributes, nothing structural.
    _code, errors = _dcmpschk(out)
    affected = [e for e in errors if "Affected" in e]
    allowed = ("UnformattedTextValue", "ContentCreatorName", "PatientName")
    assert affected and all(any(a in e for a in allowed) for e in affected), errors


@needs_pschk
def test_dcmp2pgm_renders_our_gsps_window(tmp_path, phantom_dir):
    """DCMTK applies our presentation state: same window as our own rendering."""
    from PIL import Image

    from app.dicom_viewer.export_cli import render_export

    path = sorted(phantom_dir.glob("*.dcm"))[0]
    header = read_header(path)[0]
    out = tmp_path / "pr.dcm"
    write_gsps(out, [header], ViewState(window=Window(200, 1000)), [], "Dr Li")
    subprocess.run(
        ["dcmp2pgm", "-p", str(out), str(path), str(tmp_path / "ref.pgm")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    ref = np.asarray(Image.open(tmp_path / "ref.pgm"))
    ours = render_export(path, 0, gsps=read_gsps(out), overlays=False)[..., 0]
    assert ref.shape == ours.shape
    assert np.abs(ref.astype(int) - ours).max() <= 1


def test_foreign_gsps_standard_content_is_read(tmp_path, phantom_dir):
    path = sorted(phantom_dir.glob("*.dcm"))[0]
    header = read_header(path)[0]
    out = tmp_path / "pr.dcm"
    sop = str(header.SOPInstanceUID)
    write_gsps(
        out,
        [header],
        ViewState(window=Window(10, 100)),
        [Annotation("length", [(1, 2), (30, 40)], "x", sop)],
        "x",
    )
    ds = pydicom.dcmread(out)
    del ds[0x00710010]  # drop our private block: read as another viewer's file
    del ds[0x00711010]
    ds.save_as(out)
    content = read_gsps(out)
    assert content.state.window == Window(10, 100)
    kinds = sorted(a.kind for a in content.annotations)
    assert kinds == ["length", "text"]  # the line and its measurement label


def test_reading_a_non_gsps_names_the_problem():
    from app.dicom_viewer.errors import DicomFileError

    with pytest.raises(DicomFileError, match="not a softcopy presentation state"):
        read_gsps(sample("CT_small.dcm"))


@needs_pschk
def test_colour_images_get_a_colour_presentation_state(tmp_path):
    path = sample("US1_UNCR.dcm")  # RGB ultrasound
    header = read_header(path)[0]
    sop = str(header.SOPInstanceUID)
    out = tmp_path / "cs.dcm"
    state = ViewState(zoom=2.0, rotation=180)
    write_gsps(
        out,
        [header],
        state,
        [
            Annotation("ellipse", [(100, 100), (200, 180)], "Dr Li", sop),
            Annotation("text", [(50, 50)], "Dr Li", sop, text="cyst"),
        ],
        "Dr Li",
    )
    code, errors = _dcmpschk(out)
    assert code == 0 and not errors, errors
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.11.2" and "ICCProfile" in ds
    content = read_gsps(out)
    assert content.state == state and [a.kind for a in content.annotations] == ["ellipse", "text"]


# ------------------------------------------------------------------ display shutters
SHUTTERS = {
    "rectangular": Shutter(rectangle=(10, 100, 20, 90)),
    "circular": Shutter(circle=(60, 55, 40), value=0xFFFF),
    "polygonal": Shutter(polygon=((10, 10), (20, 100), (110, 60), (60, 5)), value=30000),
    "all three": Shutter(
        rectangle=(5, 110, 5, 100),
        circle=(60, 60, 50),
        polygon=((1, 1), (1, 120), (120, 120), (120, 1)),
    ),
}


def _visible(shutter: Shutter, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the image stays visible, straight from PS3.3 C.7.6.11 (1-based, edges inside),
    and where that is certain (pixels within a pixel of a polygon edge are left out: the
    standard does not say on which side of a slanted edge they fall)."""
    import cv2

    r, c = np.mgrid[1 : rows + 1, 1 : cols + 1]
    visible = np.ones((rows, cols), bool)
    certain = np.ones((rows, cols), bool)
    if shutter.rectangle:
        left, right, upper, lower = shutter.rectangle
        visible &= (c >= left) & (c <= right) & (r >= upper) & (r <= lower)
    if shutter.circle:
        cr, cc, radius = shutter.circle
        visible &= (r - cr) ** 2 + (c - cc) ** 2 <= radius**2
    if shutter.polygon:
        contour = np.array([(col, row) for row, col in shutter.polygon], np.float32)
        dist = np.array(
            [
                [
                    cv2.pointPolygonTest(contour, (float(x), float(y)), True)
                    for x in range(1, cols + 1)
                ]
                for y in range(1, rows + 1)
            ]
        )
        visible &= dist > 0
        certain &= np.abs(dist) > 1
    return visible, certain


@pytest.fixture(scope="module")
def ct_120(tmp_path_factory):
    from tests.support.ct_phantom import PhantomSpec, write_phantom

    folder = tmp_path_factory.mktemp("ct120")
    return write_phantom(folder, PhantomSpec(size=120, slices=1, patient_name="Zhang^San"))[0]


@needs_pschk
@pytest.mark.parametrize("kind", list(SHUTTERS))
def test_shutter_written_valid_read_back_and_exported(tmp_path, ct_120, kind):
    from app.dicom_viewer.export_cli import render_export

    shutter = SHUTTERS[kind]
    header = read_header(ct_120)[0]
    out = tmp_path / "pr.dcm"
    write_gsps(out, [header], ViewState(window=Window(40, 400)), [], "Dr Li", shutter=shutter)
    code, errors = _dcmpschk(out)
    assert code == 0 and not errors, errors
    ds = pydicom.dcmread(out)
    shapes = ds.ShutterShape
    assert ([shapes] if isinstance(shapes, str) else list(shapes)) == shutter.shapes
    assert ds.ShutterPresentationValue == shutter.value
    # Read back from the standard attributes alone, as another viewer's file would be.
    del ds[0x00710010]
    del ds[0x00711010]
    ds.save_as(tmp_path / "foreign.dcm")
    assert read_gsps(out).shutter == shutter
    assert read_gsps(tmp_path / "foreign.dcm").shutter == shutter

    plain = render_export(ct_120, 0, window=Window(40, 400), overlays=False)
    shown = render_export(ct_120, 0, gsps=read_gsps(out), overlays=False)
    visible, certain = _visible(shutter, 120, 120)
    assert 0 < visible.sum() < visible.size
    open_, closed = visible & certain, ~visible & certain
    assert np.array_equal(shown[open_], plain[open_])  # the image where it is open
    grey = round(shutter.value / 0xFFFF * 255)
    assert (shown[closed] == grey).all()  # the shutter's P-value where it is closed
    assert closed.sum() > 500 and (plain[closed] != grey).any()  # ...which changed pixels


@needs_pschk
def test_colour_presentation_state_carries_the_shutter_as_cielab(tmp_path):
    header = read_header(sample("US1_UNCR.dcm"))[0]
    out = tmp_path / "cs.dcm"
    shutter = Shutter(circle=(240, 320, 200))
    write_gsps(out, [header], ViewState(), [], "Dr Li", shutter=shutter)
    code, errors = _dcmpschk(out)
    assert code == 0 and not errors, errors
    ds = pydicom.dcmread(out)
    assert list(ds.ShutterPresentationColorCIELabValue) == [0, 0x8080, 0x8080]
    assert "ShutterPresentationValue" not in ds
    assert read_gsps(out).shutter == shutter


def test_malformed_shutter_in_a_foreign_gsps_is_named(tmp_path, ct_120):
    from app.dicom_viewer.errors import DicomFileError

    header = read_header(ct_120)[0]
    out = tmp_path / "pr.dcm"
    write_gsps(out, [header], ViewState(), [], "x", shutter=Shutter(circle=(60, 60, 30)))
    ds = pydicom.dcmread(out)
    del ds.RadiusOfCircularShutter
    ds.save_as(out)
    with pytest.raises(DicomFileError, match="invalid display shutter: incomplete circular"):
        read_gsps(out)


def test_dragged_rectangle_becomes_the_covering_shutter():
    from app.dicom_viewer.shutters import rectangle_from_points

    # Pixel (0,0) spans [0,1): a drag from (9.5, 19.2) to (99.1, 89.0) touches columns
    # 10..100 and rows 20..89 (1-based), whatever the drag direction.
    for p0, p1 in (((9.5, 19.2), (99.1, 89.0)), ((99.1, 89.0), (9.5, 19.2))):
        assert rectangle_from_points(p0, p1, (120, 100)).rectangle == (10, 100, 20, 89)
    # Clipped to the image; entirely outside is refused.
    assert rectangle_from_points((-5, -5), (500, 500), (120, 100)).rectangle == (1, 120, 1, 100)
    with pytest.raises(ValueError):
        rectangle_from_points((130, 10), (140, 20), (120, 100))


def _dcmp2pgm(pr, image, out) -> np.ndarray:
    from PIL import Image

    subprocess.run(
        ["dcmp2pgm", "-p", str(pr), str(image), str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return np.asarray(Image.open(out))


def _drop_private(path) -> None:
    """Keep only the standard content: read as another viewer would write it."""
    ds = pydicom.dcmread(path)
    del ds[0x00710010]
    del ds[0x00711010]
    ds.save_as(path)


@needs_pschk
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotation_and_flip_render_like_dcmp2pgm(tmp_path, phantom_dir, rotation, flip):
    """Every rotation/flip we save is shown by DCMTK as we show it, and read back the same."""
    from app.dicom_viewer.export_cli import render_export

    path = sorted(phantom_dir.glob("*.dcm"))[0]
    header = read_header(path)[0]
    state = ViewState(window=Window(200, 1000), rotation=rotation, flip_h=flip)
    out = tmp_path / "pr.dcm"
    write_gsps(out, [header], state, [], "Dr Li")
    ref = _dcmp2pgm(out, path, tmp_path / "ref.pgm")
    n = int(header.Rows)  # square phantom: the viewport is the image size whatever the turn
    ours = render_export(path, 0, gsps=read_gsps(out), viewport=(n, n), overlays=False)
    assert ref.shape == ours.shape[:2]
    assert np.abs(ref.astype(int) - ours[..., 0]).max() <= 1
    _drop_private(out)  # the standard attributes alone give the same view
    content = read_gsps(out)
    assert (content.state.rotation, content.state.flip_h) == (rotation, flip)
    ours = render_export(path, 0, gsps=content, viewport=(n, n), overlays=False)
    assert np.abs(ref.astype(int) - ours[..., 0]).max() <= 1


@needs_pschk
def test_highdicom_gsps_with_rotation_and_flip_opens_as_dcmp2pgm_shows_it(tmp_path):
    """Another tool's presentation state (highdicom, standard order) opens untransposed."""
    import highdicom as hd

    from app.dicom_viewer.export_cli import render_export
    from tests.support.ct_phantom import PhantomSpec, write_phantom

    # Not square, so a transposed view could not even have the right shape.
    path = write_phantom(tmp_path / "ct", PhantomSpec(size=160, slices=1))[0]
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = 160, 120
    ds.PixelData = np.frombuffer(ds.PixelData, np.uint16).reshape(160, 160)[:, 20:140].tobytes()
    ds.save_as(path)
    image = pydicom.dcmread(path)
    gsps = hd.pr.GrayscaleSoftcopyPresentationState(
        referenced_images=[image],
        series_instance_uid=hd.UID(),
        series_number=7,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="other",
        manufacturer_model_name="other",
        software_versions="1",
        device_serial_number="1",
        content_label="OTHER",
        voi_lut_transformations=[
            hd.pr.SoftcopyVOILUTTransformation(window_center=100, window_width=800)
        ],
    )
    gsps.ImageRotation = 90
    gsps.ImageHorizontalFlip = "Y"
    pr = tmp_path / "other_pr.dcm"
    gsps.save_as(pr)
    ref = _dcmp2pgm(pr, path, tmp_path / "ref.pgm")
    assert ref.shape == (120, 160)  # turned a quarter: wide
    ours = render_export(path, 0, gsps=read_gsps(pr), overlays=False)
    assert ours.shape[:2] == ref.shape
    assert np.abs(ref.astype(int) - ours[..., 0]).max() <= 1
