"""Export command, anonymized copies, ECG rendering, the self-check and the frame cache."""

from __future__ import annotations

import hashlib

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import UID

from app.dicom_viewer.anonymize import Anonymizer, anonymize_file
from app.dicom_viewer.cache import FrameCache
from app.dicom_viewer.ecg import GAIN_MM_MV, PAPER_SPEED_MM_S, load_ecg, render_ecg
from app.dicom_viewer.export_cli import main as export_main
from app.dicom_viewer.self_check import COVERED_SYNTAXES, self_check

from .conftest import dcm2pnm, needs_dcmtk, sample


@needs_dcmtk
def test_export_pixels_equal_dcm2pnm(tmp_path):
    src = sample("CT_small.dcm")
    out = tmp_path / "ct.png"
    assert export_main([str(src), str(out), "--window", "40,400", "--no-overlays"]) == 0
    ours = np.asarray(Image.open(out))[..., 0]
    ref = dcm2pnm(src, tmp_path / "ref.pgm", "+Ww", "40", "400")
    np.testing.assert_array_equal(ours, ref)


def test_export_with_overlays_and_frames(tmp_path):
    src = sample("emri_small.dcm")  # 10 frames
    out = tmp_path / "f3.png"
    assert export_main([str(src), str(out), "--frame", "3", "--size", "256x256"]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (256, 256, 3)
    assert export_main([str(src), str(tmp_path / "x.png"), "--frame", "99"]) == 2


@pytest.mark.parametrize(
    "args,needle",
    [
        (["missing.dcm", "o.png"], "missing.dcm"),
        (["{notdicom}", "o.png"], "not a DICOM file"),
        (["{ct}", "o.png", "--window", "abc"], "CENTER,WIDTH"),
        (["{ct}", "o.bmp"], ".png"),
        (["{ct}", "o.png", "--gsps", "{ct}"], "not a softcopy presentation state"),
    ],
)
def test_export_errors_name_the_problem(tmp_path, capsys, args, needle):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"hello")
    subs = {"{ct}": str(sample("CT_small.dcm")), "{notdicom}": str(junk)}
    argv = [subs.get(a, a if not a.endswith(("png", "bmp")) else str(tmp_path / a)) for a in args]
    assert export_main(argv) == 2
    assert needle in capsys.readouterr().err


def test_anonymized_copy_leaves_original_untouched(tmp_path):
    src = tmp_path / "orig.dcm"
    src.write_bytes(sample("CT_small.dcm").read_bytes())
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    anon = Anonymizer()
    out = anonymize_file(src, tmp_path / "anon.dcm", anon)
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
    a, o = pydicom.dcmread(out), pydicom.dcmread(src)
    assert str(a.PatientName) == "ANONYMOUS" and a.PatientID != o.PatientID
    assert a.PatientIdentityRemoved == "YES"
    assert a.StudyInstanceUID != o.StudyInstanceUID
    assert "InstitutionName" not in a and "PatientBirthDate" in a and a.PatientBirthDate == ""
    assert not any(e.tag.is_private for e in a)
    np.testing.assert_array_equal(a.pixel_array, o.pixel_array)
    # a second file of the same study keeps the same new study UID
    out2 = anonymize_file(src, tmp_path / "anon2.dcm", anon)
    assert pydicom.dcmread(out2).StudyInstanceUID == a.StudyInstanceUID
    with pytest.raises(Exception, match="overwrite"):
        anonymize_file(src, src)


def test_ecg_grid_is_25mm_per_s_and_10mm_per_mv():
    rec = load_ecg(sample("waveform_ecg.dcm"))
    assert [lead.label for lead in rec.leads][:3] == ["I", "II", "III"]
    assert len(rec.leads) == 12 and rec.duration_s == pytest.approx(10.0)
    px_per_mm = 4.0
    img = render_ecg(rec, px_per_mm)
    assert img.shape[1] == int((10 * PAPER_SPEED_MM_S + 10) * px_per_mm)
    # the 1 mV calibration pulse is 10 mm tall: find its dark vertical edge
    col = img[:, int(3 * px_per_mm), :].min(axis=1) < 80
    rows = np.flatnonzero(col)
    assert (rows.max() - rows.min()) == pytest.approx(GAIN_MM_MV * px_per_mm, abs=2)


def test_self_check_decodes_every_shipped_sample():
    results = self_check()
    assert len(results) >= 11
    failed = [r for r in results if not r[1]]
    assert not failed, failed
    # A real sample decoded for every syntax the plugins cover (none only "plugin present").
    assert not [r for r in results if r[2].startswith("no shipped sample")]
    names = {r[0] for r in results}
    assert {UID(uid).name for uid in COVERED_SYNTAXES} <= names
    # Compressed samples are decoded by a spawned worker too, with the same pixels.
    compressed = [r for r in results if "jpeg" in r[0].lower() or "rle" in r[0].lower()]
    assert compressed and all("same in a worker process" in r[2] for r in compressed)
    # 12-bit JPEG Extended is tried on a real file, in a worker, and decodes (libjpeg-turbo).
    extended = next(r for r in results if r[0] == "JPEG Extended (Process 2 and 4)")
    assert "12-bit JPEG Extended also decodes (JPGExtended_12bit.dcm" in extended[2]


@needs_dcmtk
@pytest.mark.parametrize(
    "name",
    ["limits/JPGExtended_12bit.dcm", "MR_small_jpeg_lossless_sv6.dcm", "SC_rgb_jpeg_gdcm.dcm"],
)
def test_twelve_bit_and_lossless_jpeg_decode_like_dcmtk(tmp_path, name):
    """libjpeg-turbo 3 (imagecodecs, BSD) decodes what only GPL or GDCM decoded before:
    stored values identical to DCMTK's dcmdjpeg."""
    import subprocess

    from app.dicom_viewer.decoders import decode_frame, plugins_for, read_header
    from app.dicom_viewer.self_check import samples_dir

    path = samples_dir() / name
    header, loc = read_header(path)
    assert "gdcm" not in plugins_for(str(header.file_meta.TransferSyntaxUID))
    plain = tmp_path / "plain.dcm"
    subprocess.run(["dcmdjpeg", str(path), str(plain)], check=True, timeout=60)
    reference = pydicom.dcmread(plain).pixel_array
    ours = decode_frame(path, 0, header, loc)
    if ours.ndim == 3 and str(header.PhotometricInterpretation).startswith("YBR"):
        pytest.skip("colour conversion compared elsewhere")
    assert ours.shape == reference.shape and np.array_equal(ours, reference)


def test_cache_evicts_lru_but_keeps_pinned():
    cache = FrameCache(budget_bytes=3 * 1000)
    for i in range(3):
        cache.put(i, np.zeros(1000, np.uint8))
    cache.pin({0})
    cache.put(3, np.zeros(1000, np.uint8))
    assert 0 in cache and 1 not in cache and 3 in cache
    assert cache.used_bytes <= cache.budget
