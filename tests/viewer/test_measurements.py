"""Calibrated measurements on the generated phantom; the Weasis calibration rule."""

from __future__ import annotations

import math

import pytest
from pydicom.dataset import Dataset

from app.dicom_viewer import measurements as m
from app.dicom_viewer.annotations import Annotation, AnnotationSet, describe
from app.dicom_viewer.calibration import calibration_for, manual_calibration
from app.dicom_viewer.decoders import decode_frame, read_header
from app.dicom_viewer.pipeline import modality_values
from tests.support.ct_phantom import SOFT, PhantomSpec


def test_phantom_marker_distance_within_half_percent(phantom_dir):
    spec = PhantomSpec(size=256, slices=12)
    header, _ = read_header(phantom_dir / "CT0005.dcm")
    cal = calibration_for(header)
    assert cal.calibrated and cal.source == "PixelSpacing"
    (x1, y1), (x2, y2) = spec.marker_pixels
    # pixel centres are at +0.5 in the DICOM PIXEL convention
    mm = m.length((x1 + 0.5, y1 + 0.5), (x2 + 0.5, y2 + 0.5), cal)
    assert abs(mm - spec.marker_mm) / spec.marker_mm < 0.005


def test_roi_mean_matches_phantom_hu(phantom_dir):
    spec = PhantomSpec(size=256, slices=12)
    path = phantom_dir / "CT0003.dcm"
    header, loc = read_header(path)
    values = modality_values(header, decode_frame(path, 0, header, loc))
    cx, cy, r = spec.soft_disk
    inner = r * 0.6
    stats = m.roi_stats(
        values,
        m.region_mask(
            "ellipse",
            [(cx - inner + 0.5, cy - inner + 0.5), (cx + inner + 0.5, cy + inner + 0.5)],
            values.shape,
        ),
    )
    assert stats is not None and stats.mean == pytest.approx(SOFT, abs=0.01) and stats.sd < 0.01
    ann = Annotation("ellipse", [(cx - inner, cy - inner), (cx + inner, cy + inner)], "dr", "x")
    text = describe(ann, calibration_for(header), values, "HU")
    assert "mean 60.0 HU" in text and "mm²" in text


def _ds(**kw) -> Dataset:
    ds = Dataset()
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def test_calibration_rule_follows_weasis():
    assert calibration_for(_ds(PixelSpacing=[0.5, 0.4])).row_mm == 0.5
    mag = calibration_for(
        _ds(ImagerPixelSpacing=[0.2, 0.2], EstimatedRadiographicMagnificationFactor=1.25)
    )
    assert mag.row_mm == pytest.approx(0.16) and "magnification" in mag.source
    geo = calibration_for(
        _ds(
            ImagerPixelSpacing=[0.2, 0.2],
            DistanceSourceToPatient=900,
            DistanceSourceToDetector=1000,
        )
    )
    assert geo.col_mm == pytest.approx(0.18)
    assert calibration_for(_ds(NominalScannedPixelSpacing=[0.3, 0.3])).col_mm == 0.3
    none = calibration_for(_ds(Rows=10))
    assert not none.calibrated
    text = describe(Annotation("length", [(0, 0), (3, 4)], "dr", "x"), none)
    assert text == "5.00 px (uncalibrated)"


def test_manual_calibration_and_angle():
    cal = manual_calibration(200.0, 50.0)
    assert m.length((0, 0), (200, 0), cal) == pytest.approx(50.0)
    assert m.angle((10, 0), (0, 0), (0, 10), cal) == pytest.approx(90.0)
    assert m.polygon_area([(0, 0), (4, 0), (4, 4), (0, 4)], cal) == pytest.approx(1.0)
    assert m.ellipse_area((0, 0), (4, 8), cal) == pytest.approx(math.pi * 0.5 * 1.0)


def test_undo_redo_and_json_round_trip():
    s = AnnotationSet()
    a = s.add(Annotation("length", [(1, 1), (5, 5)], "王医生", "1.2.3"))
    s.replace(a.moved(2, 0))
    assert s.items[0].points[0] == (3, 1)
    s.undo()
    assert s.items[0].points[0] == (1, 1)
    s.redo()
    s.remove(a.id)
    assert not s.items
    s.undo()
    again = AnnotationSet.from_list(s.to_list())
    assert again.items[0].author == "王医生" and again.items[0].points == s.items[0].points
