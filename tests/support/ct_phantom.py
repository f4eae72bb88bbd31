"""The one CT phantom of the test suite and benchmarks, written as real DICOM series.

``write_phantom``: a geometric phantom with known geometry and HU values (the viewer's tests
measure a known distance, check an ROI mean). Layout of every slice (size × size pixels,
``spacing`` mm each): air (-1000 HU) outside a water cylinder (0 HU) of radius 0.4·size; a
soft-tissue disk (+60 HU) left of centre; a bone disk (+1000 HU) right of centre; two 3×3
marker pins (+2000 HU) exactly ``marker_mm`` apart on the horizontal centre line.

``write_ct_series``: the same series writer with a body-like slice (organs, bone, scanner
noise) so lossless compression figures are not flattered by a perfectly smooth image.

``write_volume``: any stack of HU slices (e.g. a sphere and a rod for reformatting tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
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


def body_slice(index: int, rows: int = 512, cols: int = 512, seed: int = 0) -> np.ndarray:
    """A body-like slice in HU (int16): fat rim, lungs, heart, spine and mild noise."""
    rng = np.random.default_rng(seed + index)
    y, x = np.mgrid[-1 : 1 : rows * 1j, -1 : 1 : cols * 1j]
    z = index / 100.0
    img = np.full((rows, cols), -1000.0)
    body = (x / 0.85) ** 2 + (y / 0.65) ** 2 < 1
    img[body] = 40
    rim = (x / 0.8) ** 2 + (y / 0.6) ** 2 >= 1
    img[rim] = np.where(body, -100, -1000)[rim]
    lungs = ((np.abs(x) - 0.4) / 0.28) ** 2 + ((y + 0.05) / (0.4 + 0.05 * np.sin(z))) ** 2 < 1
    img[lungs] = -850
    img[((x - 0.05) / 0.2) ** 2 + ((y - 0.1) / 0.18) ** 2 < 1] = 50
    img[(x / 0.08) ** 2 + ((y - 0.45) / 0.08) ** 2 < 1] = 700
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, -1024, 3071).astype(np.int16)


def write_phantom(
    folder: str | Path,
    spec: PhantomSpec = PhantomSpec(),
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> list[Path]:
    """Write the geometric phantom into ``folder``; returns the file paths in slice order."""
    hu = phantom_slice(spec)
    return write_volume(folder, lambda _i: hu, spec, transfer_syntax)


def write_ct_series(folder: Path, slices: int, rows: int = 512, cols: int = 512) -> list[Path]:
    """Write ``slices`` uncompressed body-like CT instances of one series; return their paths."""
    spec = PhantomSpec(
        size=rows,
        slices=slices,
        spacing=0.7,
        thickness=1.0,
        patient_name="Test^Phantom",
        patient_id="PH0001",
    )
    return write_volume(folder, lambda i: body_slice(i, rows, cols), spec, columns=cols)


def write_volume(
    folder: str | Path,
    slice_hu: Callable[[int], np.ndarray],
    spec: PhantomSpec,
    transfer_syntax: str = ExplicitVRLittleEndian,
    columns: int | None = None,
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    positions: list[tuple[float, float, float]] | None = None,
) -> list[Path]:
    """Write ``spec.slices`` slices whose HU values ``slice_hu(i)`` gives (rows =
    ``spec.size``); slice i lies ``i × spec.thickness`` mm along the normal unless
    ``positions`` says otherwise (tilted or gapped stacks for tests)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for i in range(spec.slices):
        hu = np.asarray(slice_hu(i))
        stored = (hu.astype(np.int32) + 1024).clip(0, 4095).astype(np.uint16)
        ds = _slice_dataset(spec, study, series, frame_of_ref, i, columns or spec.size)
        ds.ImageOrientationPatient = list(orientation)
        if positions is not None:
            ds.ImagePositionPatient = list(positions[i])
            ds.SliceLocation = positions[i][2]
        ds.PixelData = stored.tobytes()
        if transfer_syntax != ExplicitVRLittleEndian:
            ds.compress(transfer_syntax, stored, encoding_plugin="pylibjpeg")
        path = folder / f"CT{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def read_uid(path: Path) -> str:
    """The SOP Instance UID of a file."""
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _slice_dataset(
    spec: PhantomSpec, study: str, series: str, frame_of_ref: str, index: int, columns: int
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
    ds.Rows, ds.Columns = spec.size, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.KVP = 120
    return ds
