"""Malformed attributes become "file: problem" (never a traceback), calibration is qualified
wherever a number goes, and corner texts never overlap on a small image."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset

from app.dicom_viewer.annotations import Annotation, describe
from app.dicom_viewer.calibration import calibration_for
from app.dicom_viewer.corners import corner_text, layout_corners
from app.dicom_viewer.decoders import read_header
from app.dicom_viewer.export_cli import main as export_main
from app.dicom_viewer.gsps import write_gsps
from app.dicom_viewer.view_state import ViewState

from .conftest import sample


def _ultrasound(tmp_path, **region_values) -> str:
    ds = pydicom.dcmread(sample("MR_small.dcm"))
    ds.Modality = "US"
    del ds.PixelSpacing
    region = Dataset()
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    for key, value in region_values.items():
        setattr(region, key, value)
    ds.SequenceOfUltrasoundRegions = [region]
    path = tmp_path / "us.dcm"
    ds.save_as(path)
    return str(path)


@pytest.mark.parametrize(
    "region",
    [
        {"PhysicalDeltaY": 0.01},  # PhysicalDeltaX missing
        {"PhysicalDeltaX": [0.01, 0.02], "PhysicalDeltaY": 0.01},  # multi-valued
    ],
)
def test_ultrasound_region_without_usable_spacing_exports_uncalibrated(tmp_path, capsys, region):
    path = _ultrasound(tmp_path, **region)
    cal = calibration_for(read_header(path)[0])
    assert not cal.calibrated and "ultrasound region" in cal.source
    assert export_main([path, str(tmp_path / "us.png")]) == 0, capsys.readouterr().err


def test_palette_image_without_descriptor_names_the_file_and_the_attribute(tmp_path, capsys):
    ds = pydicom.dcmread(sample("examples_palette.dcm"))
    del ds.RedPaletteColorLookupTableDescriptor
    path = tmp_path / "palette.dcm"
    ds.save_as(path)
    assert export_main([str(path), str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "(0028,1101)" in err and "Traceback" not in err


def _radiograph(tmp_path):
    ds = pydicom.dcmread(sample("MR_small.dcm"))
    ds.Modality = "CR"
    del ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.2, 0.2]
    path = tmp_path / "cr.dcm"
    ds.save_as(path)
    return path, read_header(path)[0]


def test_detector_calibration_is_stated_wherever_the_number_goes(tmp_path):
    path, header = _radiograph(tmp_path)
    cal = calibration_for(header)
    line = Annotation("length", [(0, 0), (0, 50)], "Dr Li", str(header.SOPInstanceUID))
    # the measurement label (GUI and export draw this text)
    assert describe(line, cal) == "10.00 mm (at detector)"
    # the exported corner text
    corners = corner_text(header, 0, 0, 1, ViewState(), None, 1.0, (64, 64), (64, 64))
    laid = layout_corners(corners, 400, 400, lambda t: 7.0 * len(t), 14)
    assert "at detector" in " ".join(laid["bottom_right"])
    # the GSPS text other viewers show
    out = tmp_path / "pr.dcm"
    write_gsps(out, [header], ViewState(), [line], "Dr Li")
    texts = [
        str(t.UnformattedTextValue)
        for ga in pydicom.dcmread(out).GraphicAnnotationSequence
        for t in ga.get("TextObjectSequence", [])
    ]
    assert texts and all("at detector" in t for t in texts)


def test_corner_texts_never_overlap_on_a_small_image(qtbot, tmp_path):
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QFontMetricsF

    from app.dicom_viewer.annotations import AnnotationSet
    from app.dicom_viewer.index import Library, import_paths
    from app.dicom_viewer.loader import FrameSource
    from app.ui.viewer.viewport import Viewport
    from tests.support.ct_phantom import PhantomSpec, write_phantom

    spec = PhantomSpec(size=360, slices=1, patient_name="Ouyang^Xiaoming Alexander=欧阳^晓明")
    path = write_phantom(tmp_path / "ct", spec)[0]
    ds = pydicom.dcmread(path)
    ds.StudyDescription = "CT chest abdomen pelvis with contrast 胸腹盆增强扫描"
    ds.SeriesDescription = "Arterial phase 1.25 mm soft tissue kernel"
    ds.save_as(path)
    library = Library()
    import_paths([path], library)
    series = library.all_series()[0][2]
    vp = Viewport(FrameSource(), AnnotationSet())
    qtbot.addWidget(vp)
    vp.resize(360, 360)
    vp.show()
    vp.set_series(series)
    qtbot.waitUntil(lambda: vp._qimage is not None, timeout=60000)
    # 360 px of image at 100 %, 150 % and 200 % display scaling (fewer logical pixels for
    # the same text), and at 100 % with larger text ("make text bigger").
    for width, scale in ((360, 1.0), (240, 1.0), (180, 1.0), (360, 1.5), (360, 2.0)):
        vp.resize(width, width)
        vp.text_scale = scale
        font = vp._corner_font()
        metrics = QFontMetricsF(font)
        lines = vp.corner_lines(font)
        assert "PH-0001" in " ".join(lines["top_left"])  # identity never dropped
        rects = {}
        for name, block in lines.items():
            if not block:
                continue
            w = max(metrics.horizontalAdvance(t) for t in block)
            h = len(block) * metrics.lineSpacing()
            x = 6 if name.endswith("left") else vp.width() - 6 - w
            y = 4 if name.startswith("top") else vp.height() - 4 - h
            rects[name] = QRectF(x, y, w, h)
            assert QRectF(vp.rect()).contains(rects[name]), (name, width, scale)
        names = list(rects)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                assert not rects[a].intersects(rects[b]), (a, b, width, scale, lines)


def test_malformed_slice_values_are_left_out_of_the_corners(tmp_path, capsys):
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.SliceThickness = [1.0, 2.0]  # multi-valued
    ds.SliceLocation = ""
    path = tmp_path / "ct.dcm"
    ds.save_as(path)
    header = read_header(path)[0]
    ct = corner_text(header, 0, 0, 1, ViewState(), None, 1.0, (128, 128), (128, 128))
    assert not any("Thick" in t for t in ct.bottom_right)
    assert export_main([str(path), str(tmp_path / "ct.png")]) == 0, capsys.readouterr().err
