"""A synthetic CT phantom with known geometry and HU values, written as a real DICOM series.

Used by the tests (measure a known distance, check an ROI mean) and by the benchmark.
Layout of every slice (size × size pixels, ``spacing`` mm each): air (-1000 HU) outside a
water cylinder (0 HU) of radius 0.4·size; a soft-tissue disk (+60 HU) left of centre; a bone
disk (+1000 HU) right of centre; two 3×3 marker pins (+2000 HU) exactly ``marker_mm`` apart
on the horizontal centre line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

AIR, WATER, SOFT, BONE, MARKER = -1000, 0, 60, 1000, 2000


@dataclass(frozen=True)
class PhantomSpec:
    size: int = 256
    slices: int = 10
    spacing: float = 0.75  # mm per pixel (rows and columns)
    thickness: float = 2.0  # mm between slices
    marker_mm: float = 90.0  # distance between marker pin centres
    patient_name: str = "Zhang^San=张^三"
    patient_id: str = "PH-0001"

    @property
    def marker_pixels(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Column/row of the two marker pin centres."""
        half = self.marker_mm / self.spacing / 2
        c = self.size // 2
        return (int(round(c - half)), c), (int(round(c + half)), c)

    @property
    def soft_disk(self) -> tuple[int, int, int]:
        """(centre column, centre row, radius) of the +60 HU disk."""
        return self.size // 2 - self.size // 6, self.size // 2 + self.size // 6, self.size // 12

    @property
    def bone_disk(self) -> tuple[int, int, int]:
        return self.size // 2 + self.size // 6, self.size // 2 + self.size // 6, self.size // 14


def phantom_slice(spec: PhantomSpec) -> np.ndarray:
    """HU values of one slice (int16)."""
    n = spec.size
    yy, xx = np.mgrid[0:n, 0:n]
    hu = np.full((n, n), AIR, dtype=np.int16)
    c = n / 2 - 0.5
    hu[(xx - c) ** 2 + (yy - c) ** 2 <= (0.4 * n) ** 2] = WATER
    for (cx, cy, r), value in ((spec.soft_disk, SOFT), (spec.bone_disk, BONE)):
        hu[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = value
    for mx, my in spec.marker_pixels:
        hu[my - 1 : my + 2, mx - 1 : mx + 2] = MARKER
    return hu


def write_phantom(
    folder: str | Path,
    spec: PhantomSpec = PhantomSpec(),
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> list[Path]:
    """Write the series into ``folder``; returns the file paths in slice order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
    hu = phantom_slice(spec)
    stored = (hu + 1024).astype(np.uint16)  # rescale intercept -1024
    paths = []
    for i in range(spec.slices):
        ds = _slice_dataset(spec, study, series, frame_of_ref, i)
        ds.PixelData = stored.tobytes()
        if transfer_syntax != ExplicitVRLittleEndian:
            ds.compress(transfer_syntax, stored, encoding_plugin="pylibjpeg")
        path = folder / f"CT{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _slice_dataset(
    spec: PhantomSpec, study: str, series: str, frame_of_ref: str, index: int
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame_of_ref
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "M"
    ds.PatientAge = "065Y"
    ds.StudyDate, ds.StudyTime = "20250301", "101500"
    ds.SeriesDate = ds.StudyDate
    ds.AccessionNumber, ds.StudyID = "A1", "1"
    ds.ReferringPhysicianName = ""
    ds.Modality = "CT"
    ds.Manufacturer = "YiQiao phantom"
    ds.SeriesNumber, ds.InstanceNumber = 1, index + 1
    ds.SeriesDescription = "Phantom 体模"
    ds.StudyDescription = "Phantom study"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    z = index * spec.thickness
    ds.ImagePositionPatient = [-spec.size * spec.spacing / 2, -spec.size * spec.spacing / 2, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SliceLocation = z
    ds.SliceThickness = spec.thickness
    ds.PixelSpacing = [spec.spacing, spec.spacing]
    ds.Rows = ds.Columns = spec.size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.KVP = 120
    return ds
