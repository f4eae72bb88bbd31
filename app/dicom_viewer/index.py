"""Importing: files, folders (recursive), DICOMDIR and zip archives into a patient/study/series
index. Only headers are read; pixels are decoded later, on demand.

Non-DICOM and broken files are listed with the reason and skipped; an import can report
progress and be cancelled between files.
"""

from __future__ import annotations

import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from app.dicom_viewer.decoders import PixelLocation, read_header
from app.dicom_viewer.errors import DicomFileError

_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_PRESENTATION_STATE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.11.1",  # grayscale softcopy PS
    "1.2.840.10008.5.1.4.1.1.11.2",  # colour softcopy PS
}


@dataclass(eq=False)  # identity: comparing headers element by element would be slow
class Instance:
    """One indexed SOP instance (header kept in memory, pixels not)."""

    path: Path
    header: Dataset
    location: PixelLocation | None
    # In-memory source: returns the file's bytes (e.g. decrypted from the encrypted blob
    # store on each call), so nothing decrypted is ever written to disk. ``path`` then only
    # names the instance (unique per blob) for caches and messages.
    opener: Callable[[], bytes] | None = None

    @property
    def sop_instance_uid(self) -> str:
        return str(self.header.get("SOPInstanceUID", ""))

    @property
    def sop_class_uid(self) -> str:
        return str(self.header.get("SOPClassUID", ""))

    @property
    def frame_count(self) -> int:
        try:
            return max(1, int(self.header.get("NumberOfFrames", 1) or 1))
        except (TypeError, ValueError):
            return 1

    @property
    def is_image(self) -> bool:
        return "Rows" in self.header and "Columns" in self.header

    @property
    def is_waveform(self) -> bool:
        return "WaveformSequence" in self.header

    def sort_key(self) -> tuple[float, float]:
        """Order within a series: position along the slice normal, then instance number."""
        number = _float(self.header.get("InstanceNumber"), 0.0)
        pos, ori = (
            self.header.get("ImagePositionPatient"),
            self.header.get("ImageOrientationPatient"),
        )
        if pos is not None and ori is not None and len(pos) == 3 and len(ori) == 6:
            normal = np.cross(np.array(ori[:3], float), np.array(ori[3:], float))
            return float(np.dot(normal, np.array(pos, float))), number
        return number, number


def _float(value: object, default: float) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class FrameRef:
    """One displayable frame: an instance and a 0-based frame index within it."""

    instance: Instance
    frame: int


@dataclass
class Series:
    uid: str
    number: str = ""
    description: str = ""
    modality: str = ""
    frame_of_reference_uid: str = ""
    instances: list[Instance] = field(default_factory=list)
    _frames: list[FrameRef] | None = None
    # The import worker adds while the GUI reads ``frames``: without the lock, a list built
    # from a snapshot taken just before the last add() could be cached for good.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, inst: Instance) -> None:
        with self._lock:
            self.instances.append(inst)
            self._frames = None

    @property
    def frames(self) -> list[FrameRef]:
        """Every frame in display order (multi-frame instances expanded)."""
        with self._lock:
            if self._frames is None:
                ordered = sorted(self.instances, key=Instance.sort_key)
                self._frames = [
                    FrameRef(i, f) for i in ordered if i.is_image for f in range(i.frame_count)
                ]
            return self._frames

    @property
    def waveforms(self) -> list[Instance]:
        return [i for i in self.instances if i.is_waveform]


@dataclass
class Study:
    uid: str
    date: str = ""
    description: str = ""
    series: dict[str, Series] = field(default_factory=dict)


@dataclass
class Patient:
    key: str
    patient_id: str = ""
    name: str = ""
    birth_date: str = ""
    sex: str = ""
    studies: dict[str, Study] = field(default_factory=dict)


@dataclass
class SkippedFile:
    """A file that was not imported, and why."""

    path: str
    reason: str


@dataclass
class ImportReport:
    added: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    presentation_states: list[Path] = field(default_factory=list)
    cancelled: bool = False


def display_name(value: object) -> str:
    """A person name for display: ideographic form when present (Chinese), else alphabetic."""
    text = str(value or "")
    groups = text.split("=")
    chosen = next((g for g in groups[1:] if g.strip("^ ")), "") or groups[0]
    parts = [p for p in chosen.split("^") if p]
    if not parts:
        return ""
    if any(ord(ch) > 0x2E80 for ch in chosen):
        return "".join(parts[:2]) + (" " + " ".join(parts[2:]) if len(parts) > 2 else "")
    return " ".join(parts)


class Library:
    """The in-memory index of everything imported in this session (thread-safe adds)."""

    def __init__(self) -> None:
        self.patients: dict[str, Patient] = {}
        self._by_sop: dict[str, Instance] = {}
        self._lock = threading.Lock()
        self._temp_dirs: list[tempfile.TemporaryDirectory] = []

    def add(self, inst: Instance) -> bool:
        """Index an instance; False when the same SOP instance is already known."""
        ds = inst.header
        with self._lock:
            if inst.sop_instance_uid and inst.sop_instance_uid in self._by_sop:
                return False
            pid = str(ds.get("PatientID", "") or "")
            pname = str(ds.get("PatientName", "") or "")
            key = f"{pid}|{pname}"
            patient = self.patients.get(key)
            if patient is None:
                patient = self.patients[key] = Patient(
                    key,
                    pid,
                    display_name(ds.get("PatientName")),
                    str(ds.get("PatientBirthDate", "") or ""),
                    str(ds.get("PatientSex", "") or ""),
                )
            study_uid = str(ds.get("StudyInstanceUID", "") or "unknown-study")
            study = patient.studies.get(study_uid)
            if study is None:
                study = patient.studies[study_uid] = Study(
                    study_uid,
                    str(ds.get("StudyDate", "") or ""),
                    str(ds.get("StudyDescription", "") or ""),
                )
            series_uid = str(ds.get("SeriesInstanceUID", "") or f"{study_uid}-unknown-series")
            series = study.series.get(series_uid)
            if series is None:
                series = study.series[series_uid] = Series(
                    series_uid,
                    str(ds.get("SeriesNumber", "") or ""),
                    str(ds.get("SeriesDescription", "") or ""),
                    str(ds.get("Modality", "") or ""),
                    str(ds.get("FrameOfReferenceUID", "") or ""),
                )
            series.add(inst)
            if inst.sop_instance_uid:
                self._by_sop[inst.sop_instance_uid] = inst
            return True

    def instance(self, sop_instance_uid: str) -> Instance | None:
        """Look an instance up by SOP Instance UID."""
        return self._by_sop.get(sop_instance_uid)

    def all_series(self) -> list[tuple[Patient, Study, Series]]:
        """Every series, grouped patient → study → series."""
        out = []
        with self._lock:  # the import worker may be adding while the GUI lists
            for patient in list(self.patients.values()):
                for study in sorted(patient.studies.values(), key=lambda s: s.date):
                    for series in sorted(study.series.values(), key=lambda s: _float(s.number, 0)):
                        out.append((patient, study, series))
        return out

    def temp_dir(self) -> Path:
        """A folder for extracted archives, removed when the library is closed."""
        tmp = tempfile.TemporaryDirectory(prefix="yiqiao-import-")
        self._temp_dirs.append(tmp)
        return Path(tmp.name)

    def close(self) -> None:
        for tmp in self._temp_dirs:
            tmp.cleanup()
        self._temp_dirs.clear()


def dicomdir_files(dicomdir: Path) -> list[Path]:
    """Files referenced by a DICOMDIR (paths resolved relative to it, case-tolerant)."""
    import pydicom

    ds = pydicom.dcmread(dicomdir, force=True)
    root = dicomdir.parent
    out = []
    for record in ds.get("DirectoryRecordSequence", []):
        ref = record.get("ReferencedFileID")
        if not ref:
            continue
        parts = [ref] if isinstance(ref, str) else list(ref)
        candidate = root.joinpath(*parts)
        if not candidate.exists():
            candidate = _case_insensitive(root, parts) or candidate
        out.append(candidate)
    return out


def _case_insensitive(root: Path, parts: list[str]) -> Path | None:
    current = root
    for part in parts:
        matches = (
            [p for p in current.iterdir() if p.name.lower() == part.lower()]
            if current.is_dir()
            else []
        )
        if not matches:
            return None
        current = matches[0]
    return current


def expand_paths(
    paths: Iterable[str | Path], library: Library, skipped: list[SkippedFile]
) -> list[Path]:
    """Files to read from the given files, folders, DICOMDIRs and zip archives."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and p.name.upper() != "DICOMDIR"
            )
        elif path.name.upper() == "DICOMDIR":
            try:
                out.extend(dicomdir_files(path))
            except Exception as exc:  # noqa: BLE001 - a broken DICOMDIR: fall back to the folder
                skipped.append(
                    SkippedFile(
                        str(path), f"unreadable DICOMDIR ({exc}); reading the folder instead"
                    )
                )
                out.extend(expand_paths([path.parent], library, skipped))
        elif zipfile.is_zipfile(path):
            target = library.temp_dir()
            try:
                with zipfile.ZipFile(path) as zf:
                    for member in zf.infolist():
                        # Never let an archive write outside its folder (zip slip).
                        dest = (target / member.filename).resolve()
                        if not str(dest).startswith(str(target.resolve())) or member.is_dir():
                            continue
                        zf.extract(member, target)
                out.extend(expand_paths([target], library, skipped))
            except (zipfile.BadZipFile, OSError) as exc:
                skipped.append(SkippedFile(str(path), f"broken zip archive: {exc}"))
        elif path.exists():
            out.append(path)
        else:
            skipped.append(SkippedFile(str(path), "file not found"))
    return out


def import_paths(
    paths: Iterable[str | Path],
    library: Library,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    on_added: Callable[[Instance], None] | None = None,
) -> ImportReport:
    """Index files into ``library``; progress(done, total) after each file."""
    report = ImportReport()
    files = expand_paths(paths, library, report.skipped)
    total = len(files)
    for done, path in enumerate(files, 1):
        if cancelled is not None and cancelled():
            report.cancelled = True
            break
        inst = read_instance(path, report)
        if inst is not None and library.add(inst):
            report.added += 1
            if on_added is not None:
                on_added(inst)
        if progress is not None:
            progress(done, total)
    return report


def read_instance(path: Path, report: ImportReport, data: bytes | None = None) -> Instance | None:
    """Read one file's header (or ``data``, its bytes) into an Instance, or record why it was
    skipped."""
    try:
        header, location = read_header(path, data)
        if data is not None:
            location = None  # the fast native path reads files
    except DicomFileError as exc:
        report.skipped.append(SkippedFile(str(path), exc.problem))
        return None
    sop_class = str(header.get("SOPClassUID", ""))
    if (
        sop_class == _DICOMDIR_CLASS
        or str(getattr(header.get("file_meta", None) or Dataset(), "MediaStorageSOPClassUID", ""))
        == _DICOMDIR_CLASS
    ):
        return None
    if sop_class in _PRESENTATION_STATE_CLASSES:
        report.presentation_states.append(path)
        return None
    inst = Instance(path, header, location)
    if not inst.is_image and not inst.is_waveform:
        kind = str(header.get("Modality", "") or "unknown")
        report.skipped.append(SkippedFile(str(path), f"not an image or waveform (modality {kind})"))
        return None
    if inst.is_image:
        try:
            rows, cols = int(header.Rows), int(header.Columns)
            if rows <= 0 or cols <= 0:
                raise ValueError("zero image size")
        except (TypeError, ValueError) as exc:
            report.skipped.append(SkippedFile(str(path), f"invalid image size: {exc}"))
            return None
    return inst


def import_buffers(
    items: Iterable[tuple[str, Callable[[], bytes]]],
    library: Library,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Index in-memory DICOM: ``(name, opener)`` pairs, ``opener()`` returning the bytes.

    The header is read from the bytes now; pixels are decoded later through ``opener``.
    """
    report = ImportReport()
    items = list(items)
    for done, (name, opener) in enumerate(items, 1):
        path = Path("memory") / name
        try:
            data = opener()
        except Exception as exc:  # noqa: BLE001 - a missing/corrupt blob is named, not raised
            report.skipped.append(SkippedFile(str(path), f"cannot be read: {exc}"))
            continue
        inst = read_instance(path, report, data)
        if inst is not None:
            inst.opener = opener
            if library.add(inst):
                report.added += 1
        if progress is not None:
            progress(done, len(items))
    return report
