"""Lossless recompression for transfer: smaller, pixel-identical, same SOP Instance UID, and
the user's original file untouched."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pydicom
from pydicom import examples

from app.sync.dicom_transfer import for_transfer
from tests.support.ct_phantom import write_ct_series


def _bytes(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_ct_recompressed_losslessly_with_same_uid(tmp_path: Path) -> None:
    (path,) = write_ct_series(tmp_path, 1, rows=256, cols=256)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    original = pydicom.dcmread(path)
    form = for_transfer(path.read_bytes())
    assert form.recompressed and len(form.data) < 0.6 * form.original_size
    received = pydicom.dcmread(io.BytesIO(form.data))
    assert received.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"  # JPEG-LS lossless
    assert received.SOPInstanceUID == original.SOPInstanceUID
    assert received.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    assert received.PatientID == "PH0001"
    assert np.array_equal(received.pixel_array, original.pixel_array)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_signed_and_colour_images_stay_exact() -> None:
    for ds in (examples.ct, examples.rgb_color):
        data = _bytes(ds)
        form = for_transfer(data)
        out = pydicom.dcmread(io.BytesIO(form.data))
        assert np.array_equal(out.pixel_array, ds.pixel_array)
        assert out.SOPInstanceUID == ds.SOPInstanceUID


def test_compressed_and_non_dicom_pass_through() -> None:
    jpeg_ls = _bytes(examples.jpeg2k)  # already compressed
    assert for_transfer(jpeg_ls).data == jpeg_ls
    assert not for_transfer(jpeg_ls).recompressed
    pdf = b"%PDF-1.4 report"
    assert for_transfer(pdf).data == pdf
    broken = b"\0" * 128 + b"DICM" + b"\x02\x00garbage"
    form = for_transfer(broken)
    assert form.data == broken and not form.recompressed
