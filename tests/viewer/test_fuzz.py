"""Bounded fuzzing: mutated real sample files never crash or hang the read/decode/render path;
every failure is a DicomFileError naming the file."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.dicom_viewer.decoders import decode_frame
from app.dicom_viewer.errors import DicomFileError
from app.dicom_viewer.index import ImportReport, read_instance
from app.dicom_viewer.render import render_checked, to_viewport
from app.dicom_viewer.view_state import ViewState

from .conftest import sample

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SEEDS = [
    "CT_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "SC_rgb_small_odd_jpeg.dcm",
    "examples_palette.dcm",
    "emri_small.dcm",
    "image_dfl.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
]
_BYTES = {name: sample(name).read_bytes() for name in SEEDS}


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(SEEDS))
    data = bytearray(_BYTES[name])
    # Bias mutations toward the header, where parsing decisions are made.
    limit = min(len(data), 2048) if draw(st.booleans()) else len(data)
    for _ in range(draw(st.integers(1, 12))):
        pos = draw(st.integers(0, limit - 1))
        data[pos] = draw(st.integers(0, 255))
    if draw(st.integers(0, 4)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return name, bytes(data)


# Derandomized so CI is reproducible; FUZZ_EXAMPLES=5000 explores further locally.
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=mutated())
def test_mutated_files_fail_cleanly(tmp_path, case):
    name, data = case
    path = tmp_path / f"fuzz_{name}"
    path.write_bytes(data)
    start = time.monotonic()
    report = ImportReport()
    inst = read_instance(path, report)
    if inst is None:
        assert report.skipped == [] or str(path) in report.skipped[0].path
        return
    if not inst.is_image:
        return
    try:
        stored = decode_frame(path, 0, inst.header, inst.location)
        img = render_checked(str(path), inst.header, 0, stored, ViewState())
        out = to_viewport(img, ViewState(), (128, 128))
        assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    except DicomFileError as exc:
        assert str(path) in str(exc)
    assert time.monotonic() - start < 10, "a mutated file took too long"


def test_absurd_image_size_is_refused_before_decoding(tmp_path):
    import pydicom

    from app.dicom_viewer.decoders import read_header

    ds = pydicom.dcmread(sample("MR_small_jp2klossless.dcm"))
    ds.Rows = ds.Columns = 65535
    ds.SamplesPerPixel = 3
    path = tmp_path / "huge.dcm"
    ds.save_as(path)
    header, loc = read_header(path)
    try:
        decode_frame(path, 0, header, loc)
    except DicomFileError as exc:
        assert "refused" in str(exc) and str(path) in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a 24 GiB frame was not refused")
