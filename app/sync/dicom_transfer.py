"""Lossless recompression of uncompressed DICOM for transfer over slow links.

An uncompressed instance is re-encoded as JPEG-LS lossless (fast, strong on CT/MR) or, if that
is not possible, JPEG 2000 lossless; every other attribute, the SOP Instance UID included, is
kept. The result is decoded again and compared pixel for pixel with the original before it is
used, and it is used only when it is smaller. The caller's file is never modified: this works
on bytes and returns new bytes. Receivers open it with any viewer that decodes JPEG-LS/J2K
(ours does, via pyjpegls / pylibjpeg-openjpeg / GDCM).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, JPEG2000Lossless, JPEGLSLossless

log = logging.getLogger(__name__)

_UNCOMPRESSED = {
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired)
}


@dataclass(frozen=True)
class TransferForm:
    """What goes on the wire for one file."""

    data: bytes
    recompressed: bool
    transfer_syntax: str  # of ``data`` ("" when not DICOM)
    original_size: int
    note: str = ""  # why it was left as it was


def is_dicom(data: bytes) -> bool:
    """True for a DICOM Part 10 file (``DICM`` after the 128-byte preamble)."""
    return len(data) > 132 and data[128:132] == b"DICM"


def for_transfer(data: bytes) -> TransferForm:
    """The smallest lossless form of ``data`` to upload (possibly ``data`` itself)."""
    if not is_dicom(data):
        return TransferForm(data, False, "", len(data), "not DICOM")
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, ValueError, EOFError) as exc:
        return TransferForm(data, False, "", len(data), f"unreadable DICOM: {exc}")
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if syntax not in _UNCOMPRESSED:
        return TransferForm(data, False, syntax, len(data), "already compressed")
    if "PixelData" not in ds:
        return TransferForm(data, False, syntax, len(data), "no pixel data")
    try:
        original = ds.pixel_array.copy()
    except Exception as exc:  # noqa: BLE001 - any decode failure means "send as is"
        return TransferForm(data, False, syntax, len(data), f"pixels not decodable: {exc}")
    sop_uid = ds.SOPInstanceUID
    for target in _candidates(ds):
        try:
            candidate = _encode(ds, target)
        except Exception as exc:  # noqa: BLE001 - try the next codec
            log.debug("lossless %s encode failed: %s", UID(target).name, exc)
            continue
        if len(candidate) >= len(data):
            continue
        check = pydicom.dcmread(io.BytesIO(candidate))
        if check.SOPInstanceUID != sop_uid or not np.array_equal(check.pixel_array, original):
            log.warning("lossless %s round trip differed; sending the original", UID(target).name)
            continue
        return TransferForm(candidate, True, str(target), len(data))
    return TransferForm(data, False, syntax, len(data), "no smaller lossless form")


def _candidates(ds: pydicom.Dataset) -> list[UID]:
    bits = int(ds.get("BitsAllocated", 16))
    samples = int(ds.get("SamplesPerPixel", 1))
    if bits > 16:
        return [JPEG2000Lossless]
    if samples == 1:
        return [JPEGLSLossless, JPEG2000Lossless]
    return [JPEG2000Lossless, JPEGLSLossless]


def _encode(ds: pydicom.Dataset, target: UID) -> bytes:
    copy = pydicom.dcmread(io.BytesIO(_dump(ds)))  # never mutate the caller's dataset
    # pydicom would mint a new SOP Instance UID by default; the same instance keeps its UID.
    copy.compress(target, generate_instance_uid=False)
    return _dump(copy)


def _dump(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
