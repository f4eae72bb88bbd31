"""A generated CT series (real DICOM files) for tests and the rural-link benchmark.

An elliptical body with organs and bone, realistic HU values and mild scanner noise, so
lossless compression figures are not flattered by a perfectly smooth image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def ct_slice(index: int, rows: int = 512, cols: int = 512, seed: int = 0) -> np.ndarray:
    """One slice in stored values (HU + 1024), int16."""
    rng = np.random.default_rng(seed + index)
    y, x = np.mgrid[-1 : 1 : rows * 1j, -1 : 1 : cols * 1j]
    z = index / 100.0
    img = np.full((rows, cols), -1000.0)
    body = (x / 0.85) ** 2 + (y / 0.65) ** 2 < 1
    img[body] = 40
    img[(x / 0.8) ** 2 + (y / 0.6) ** 2 >= 1] = np.where(body, -100, -1000)[
        (x / 0.8) ** 2 + (y / 0.6) ** 2 >= 1
    ]  # fat rim
    lungs = ((np.abs(x) - 0.4) / 0.28) ** 2 + ((y + 0.05) / (0.4 + 0.05 * np.sin(z))) ** 2 < 1
    img[lungs] = -850
    heart = ((x - 0.05) / 0.2) ** 2 + ((y - 0.1) / 0.18) ** 2 < 1
    img[heart] = 50
    spine = (x / 0.08) ** 2 + ((y - 0.45) / 0.08) ** 2 < 1
    img[spine] = 700
    img += rng.normal(0, 12, img.shape)
    return (np.clip(img, -1024, 3071) + 1024).astype(np.int16)


def write_ct_series(folder: Path, slices: int, rows: int = 512, cols: int = 512) -> list[Path]:
    """Write ``slices`` uncompressed CT instances of one series; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for i in range(slices):
        sop = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"ct{i:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID, ds.PatientSex = "Test^Phantom", "PH0001", "O"
        ds.Modality, ds.InstanceNumber = "CT", i + 1
        ds.ImagePositionPatient = [0, 0, float(i)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = ct_slice(i, rows, cols).astype(np.uint16).tobytes()
        path = folder / f"ct{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def read_uid(path: Path) -> str:
    """The SOP Instance UID of a file."""
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
