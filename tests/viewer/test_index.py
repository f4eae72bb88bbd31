"""Import: folders, DICOMDIR, zip, broken and non-DICOM files, progress and cancel."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from app.dicom_viewer.index import Library, display_name, import_paths

from .conftest import TEST_FILES, sample


def test_folder_import_indexes_series_and_lists_skipped_files(tmp_path, phantom_dir):
    folder = tmp_path / "cd"
    shutil.copytree(phantom_dir, folder / "ct")
    (folder / "notes.txt").write_text("not dicom")
    (folder / "broken.dcm").write_bytes(b"DICM" + b"\x00" * 10)
    truncated = (phantom_dir / "CT0000.dcm").read_bytes()[:400]
    (folder / "truncated.dcm").write_bytes(truncated)
    shutil.copy(sample("rtplan.dcm"), folder / "plan.dcm")
    lib = Library()
    seen = []
    report = import_paths([folder], lib, progress=lambda d, t: seen.append((d, t)))
    series = lib.all_series()
    assert len(series) == 1
    patient, _study, ser = series[0]
    assert patient.name == "张三"
    assert len(ser.frames) == 12
    # slices ordered along the normal (z ascending)
    zs = [float(f.instance.header.ImagePositionPatient[2]) for f in ser.frames]
    assert zs == sorted(zs)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert "notes.txt" in reasons and "not a DICOM" in reasons["notes.txt"]
    assert "broken.dcm" in reasons
    assert "truncated.dcm" in reasons
    assert "not an image" in reasons["plan.dcm"]
    assert seen[-1][0] == seen[-1][1] == 16


def test_dicomdir_and_zip(tmp_path):
    tree = tmp_path / "media"
    shutil.copytree(TEST_FILES / "dicomdirtests", tree)
    lib = Library()
    report = import_paths([tree / "DICOMDIR"], lib)
    assert report.added > 0
    assert len(lib.patients) >= 2
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(sample("CT_small.dcm"), "a/CT_small.dcm")
        zf.write(sample("MR_small.dcm"), "b/MR_small.dcm")
        zf.writestr("../evil.dcm", b"x")  # never extracted outside its folder
    lib2 = Library()
    report2 = import_paths([archive], lib2)
    assert report2.added == 2
    assert not (tmp_path / "evil.dcm").exists()
    lib2.close()


def test_cancel_stops_between_files(phantom_dir):
    lib = Library()
    calls = []
    report = import_paths(
        [phantom_dir], lib, progress=lambda d, t: calls.append(d), cancelled=lambda: len(calls) >= 3
    )
    assert report.cancelled and report.added == 3


def test_files_without_preamble_are_read(tmp_path):
    import pydicom
    from pydicom.dataset import FileMetaDataset

    from app.dicom_viewer.decoders import decode_frame

    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.preamble, ds.file_meta = None, FileMetaDataset()
    raw = tmp_path / "IM0001"  # as on old CDs: no preamble, no meta, no extension
    ds.save_as(raw, implicit_vr=True, little_endian=True)
    lib = Library()
    report = import_paths([raw, sample("ExplVR_LitEndNoMeta.dcm")], lib)
    assert report.added == 1
    assert "not an image" in report.skipped[0].reason
    frame = lib.all_series()[0][2].frames[0]
    assert decode_frame(
        frame.instance.path, 0, frame.instance.header, frame.instance.location
    ).shape == (128, 128)


def test_chinese_names_from_gb18030_and_utf8():
    lib = Library()
    import_paths([sample("chrX1.dcm"), sample("chrX2.dcm")], lib)
    names = {p.name for p in lib.patients.values()}
    assert names == {"王小東", "王小东"}, names


def test_display_name_prefers_ideographic():
    assert display_name("Wang^XiaoDong=王^小东=") == "王小东"
    assert display_name("Doe^John") == "Doe John"
