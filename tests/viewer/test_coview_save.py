"""Saving a co-viewing session: GSPS checked by DCMTK and rendered by our export command, the
TID 1500 report read back (highdicom and DCMTK's dsrdump) with the same numbers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from app.dicom_viewer.annotations import Annotation
from app.dicom_viewer.coview_save import (
    read_measurement_report,
    read_report_labels,
    save_session,
)
from app.dicom_viewer.decoders import read_header
from app.dicom_viewer.pipeline import modality_values

ROOT = Path(__file__).resolve().parents[2]


def _values(ds: pydicom.Dataset, frame: int) -> np.ndarray:
    return modality_values(ds, ds.pixel_array)


@pytest.mark.skipif(shutil.which("dcmpschk") is None, reason="DCMTK (dcmpschk) not installed")
def test_saved_session_is_valid_dicom_with_the_numbers_both_sides_saw(tmp_path):
    from tests.support.ct_phantom import PhantomSpec, write_phantom

    paths = write_phantom(tmp_path / "ct", PhantomSpec(size=128, slices=3, patient_name="Li^Si"))
    images = {str(ds.SOPInstanceUID): ds for ds in (pydicom.dcmread(p) for p in paths)}
    before = [p.read_bytes() for p in paths]
    drawn_on = sorted(images)[1]
    spacing = float(images[drawn_on].PixelSpacing[0])
    anns = [
        Annotation("length", [(10, 10), (40, 50)], "dr.li", drawn_on),
        Annotation("ellipse", [(30, 30), (70, 60)], "dr.wang", drawn_on),
        Annotation("rectangle", [(60, 60), (90, 100)], "dr.wang", drawn_on),
        Annotation("text", [(5, 5)], "dr.li", drawn_on, text="nodule"),
        Annotation("angle", [(100, 20), (80, 20), (80, 40)], "dr.wang", drawn_on),
        Annotation("arrow", [(20, 90), (35, 75)], "dr.li", drawn_on, text="look here"),
    ]
    saved = save_session(tmp_path / "out", anns, images, _values, "dr.li")
    [ps] = saved.presentation_states
    r = subprocess.run(["dcmpschk", str(ps)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Test failed" not in r.stdout + r.stderr, r.stdout[-2000:]
    pr = pydicom.dcmread(ps)
    refs = [
        i.ReferencedSOPInstanceUID
        for s in pr.ReferencedSeriesSequence
        for i in s.ReferencedImageSequence
    ]
    assert refs == [drawn_on]  # exactly the image drawn on
    out_png = tmp_path / "shown.png"
    src = next(p for p in paths if read_header(p)[0].SOPInstanceUID == drawn_on)
    export = subprocess.run(
        [
            sys.executable,
            str(ROOT / "main.py"),
            "export",
            str(src),
            str(out_png),
            "--gsps",
            str(ps),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert export.returncode == 0, export.stderr[-2000:]
    assert out_png.stat().st_size > 1000

    # the report: length 50 px × spacing, two areas with statistics, read back the same
    length = next(x for x in saved.measurements if x.name == "length")
    assert length.value == pytest.approx(50 * spacing) and length.unit == "mm"
    angle = next(x for x in saved.measurements if x.name == "angle")
    assert angle.value == pytest.approx(90.0) and angle.unit == "deg"
    back = read_measurement_report(saved.report)
    assert len(back) == len(saved.measurements) == 1 + 1 + 2 * 5
    assert ("Angle", pytest.approx(90.0), "deg") in back
    want = sorted((round(x.value, 4), x.unit) for x in saved.measurements)
    assert sorted((round(value, 4), unit) for _, value, unit in back) == want
    # arrows and text marks: their shape and label
    assert sorted(read_report_labels(saved.report)) == [
        ("POINT", "nodule"),
        ("POLYLINE", "look here"),
    ]
    sr = pydicom.dcmread(saved.report)
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"
    assert sr.SpecificCharacterSet == "ISO_IR 192"
    evidence = [
        i.ReferencedSOPInstanceUID
        for s in sr.CurrentRequestedProcedureEvidenceSequence
        for r2 in s.ReferencedSeriesSequence
        for i in r2.ReferencedSOPSequence
    ]
    assert evidence == [drawn_on]
    if shutil.which("dsrdump"):
        dump = subprocess.run(["dsrdump", str(saved.report)], capture_output=True, text=True)
        assert dump.returncode == 0, dump.stderr
        assert f"{length.value:.2f}"[:4] in dump.stdout and "Imaging Measurement Report" in (
            dump.stdout
        )
        assert "Angle" in dump.stdout and "90" in dump.stdout
    assert [p.read_bytes() for p in paths] == before  # originals never modified

    # Chinese labels survive in both objects (UTF-8). dcmpschk 3.6.7 is left out here: it
    # checks ST byte by byte against ISO 8859 and calls UTF-8's continuation bytes invalid.
    chinese = [
        Annotation("text", [(5, 5)], "李医生", drawn_on, text="结节"),
        Annotation("arrow", [(20, 90), (35, 75)], "李医生", drawn_on, text="看这里"),
    ]
    again = save_session(tmp_path / "zh", chinese, images, _values, "李医生")
    assert sorted(read_report_labels(again.report)) == [("POINT", "结节"), ("POLYLINE", "看这里")]
    texts = {
        t.UnformattedTextValue
        for a in pydicom.dcmread(again.presentation_states[0]).GraphicAnnotationSequence
        for t in a.get("TextObjectSequence", [])
    }
    assert {"结节", "看这里"} <= texts
