"""Fuzzing the decoders: a few hundred mutated files (fixed seed) go through every decoder path
in a child process, the way the viewer's decode workers run them. No file may kill that
process natively, and every failure must be a DicomFileError naming the file."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from app.dicom_viewer.decoders import decode_frame
from app.dicom_viewer.errors import DicomFileError

from .conftest import sample

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "dicom_samples"
# One seed per decoder path: native LE/BE/implicit, deflate, RLE, JPEG 2000 (lossless, lossy,
# HTJ2K), JPEG-LS (lossless, near-lossless), JPEG baseline (colour), extended 8- and 12-bit,
# lossless (SV6 grey, SV1 colour), palette colour, multi-frame, overlays.
SEEDS = [
    SHIPPED / "MR_small.dcm",
    SHIPPED / "MR_small_bigendian.dcm",
    SHIPPED / "MR_small_implicit.dcm",
    SHIPPED / "image_dfl.dcm",
    SHIPPED / "MR_small_RLE.dcm",
    SHIPPED / "MR_small_jp2klossless.dcm",
    SHIPPED / "JPEG2000.dcm",
    SHIPPED / "MR_small_htj2k_lossless.dcm",
    SHIPPED / "MR_small_jpeg_ls_lossless.dcm",
    SHIPPED / "JPEGLSNearLossless_08.dcm",
    SHIPPED / "SC_rgb_small_odd_jpeg.dcm",
    SHIPPED / "MR_small_jpeg_extended_8bit.dcm",
    SHIPPED / "limits" / "JPGExtended_12bit.dcm",
    SHIPPED / "MR_small_jpeg_lossless_sv6.dcm",
    SHIPPED / "SC_rgb_jpeg_gdcm.dcm",
]
CASES = int(os.environ.get("FUZZ_CASES", "300"))

_HEADER_MUTATIONS = {
    "Rows": lambda r, v: r.choice([0, 1, v * 2, v // 2, 65535, v + 1]),
    "Columns": lambda r, v: r.choice([0, 1, v * 2, v // 2, 65535, v + 1]),
    "BitsAllocated": lambda r, v: r.choice([1, 8, 12, 16, 32, 64]),
    "BitsStored": lambda r, v: r.choice([1, 7, 8, 12, 16, 17, 32]),
    "HighBit": lambda r, v: r.choice([0, 7, 11, 15, 16, 31]),
    "SamplesPerPixel": lambda r, v: r.choice([0, 1, 2, 3, 4]),
    "PhotometricInterpretation": lambda r, v: r.choice(
        ["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", "XYZ"]
    ),
    "PlanarConfiguration": lambda r, v: r.choice([0, 1, 2]),
    "PixelRepresentation": lambda r, v: r.choice([0, 1]),
    "NumberOfFrames": lambda r, v: r.choice([0, 2, 1000]),
}


def _header_mutant(src: Path, rng: random.Random, out: Path) -> None:
    ds = pydicom.dcmread(src)
    for keyword in rng.sample(sorted(_HEADER_MUTATIONS), rng.randint(1, 2)):
        value = ds.get(keyword, 1)
        setattr(
            ds,
            keyword,
            _HEADER_MUTATIONS[keyword](
                rng, value if keyword in ("Rows", "Columns") and value else 1
            ),
        )
    ds.save_as(out)


def _byte_mutant(data: bytes, rng: random.Random, header_only: bool) -> bytes:
    buf = bytearray(data)
    # Header bytes decide how the file is parsed; the tail is the compressed stream itself.
    lo, hi = (0, min(len(buf), 2048)) if header_only else (len(buf) // 3, len(buf))
    for _ in range(rng.randint(1, 16)):
        buf[rng.randrange(lo, hi)] = rng.randrange(256)
    if rng.random() < 0.2:
        buf = buf[: rng.randrange(len(buf))]
    return bytes(buf)


def _known_killers(folder: Path) -> list[Path]:
    """The native deaths seen in the field (issue 18), rebuilt by mutation."""
    out = []

    def make(name: str, src: Path, change) -> None:  # noqa: ANN001
        ds = pydicom.dcmread(src)
        change(ds)
        path = folder / name
        ds.save_as(path)
        out.append(path)

    make(
        "j2k_ybr_full.dcm",
        SHIPPED / "MR_small_jp2klossless.dcm",
        lambda d: setattr(d, "PhotometricInterpretation", "YBR_FULL"),
    )
    make(
        "jpegls_columns_doubled.dcm",
        SHIPPED / "MR_small_jpeg_ls_lossless.dcm",
        lambda d: setattr(d, "Columns", d.Columns * 2),
    )
    make(
        "jpeg_lossless_bits64.dcm",
        SHIPPED / "MR_small_jpeg_lossless_sv6.dcm",
        lambda d: setattr(d, "BitsAllocated", 64),
    )

    def damage_markers(d: pydicom.Dataset) -> None:
        from pydicom.encaps import encapsulate, generate_frames

        frame = bytearray(next(generate_frames(d.PixelData, number_of_frames=1)))
        for i in range(2, len(frame) - 1):  # every marker after SOI loses its 0xFF prefix
            if frame[i] == 0xFF and frame[i + 1] not in (0x00, 0xFF):
                frame[i] = 0x7F
        d.PixelData = encapsulate([bytes(frame)])

    make(
        "jpeg_lossless_damaged_markers.dcm",
        SHIPPED / "MR_small_jpeg_lossless_sv6.dcm",
        damage_markers,
    )
    return out


def _cases(folder: Path) -> list[Path]:
    rng = random.Random(18)
    seeds = {p: p.read_bytes() for p in SEEDS}
    files = _known_killers(folder)
    for i in range(CASES):
        src = rng.choice(SEEDS)
        path = folder / f"case{i:04d}_{src.stem}.dcm"
        kind = rng.random()
        if kind < 0.4:
            _header_mutant(src, rng, path)
        else:
            path.write_bytes(_byte_mutant(seeds[src], rng, header_only=kind < 0.6))
        files.append(path)
    return files


def test_no_mutated_file_kills_the_decoding_process(tmp_path):
    files = _cases(tmp_path)
    listing, log = tmp_path / "files.txt", tmp_path / "log.txt"
    listing.write_text("\n".join(map(str, files)))
    # A deadline only against a hang: a few hundred small files take seconds.
    proc = subprocess.run(
        [sys.executable, "-m", "tests.viewer.fuzz_child", str(listing), str(log)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = log.read_text(encoding="utf-8").splitlines()
    starts = [ln[6:] for ln in lines if ln.startswith("start ")]
    outcomes = [json.loads(ln) for ln in lines if ln.startswith("{")]
    assert proc.returncode == 0, (
        f"the decoding process died (exit {proc.returncode}) on {starts[-1] if starts else '?'}"
        f"\n{proc.stderr[-2000:]}"
    )
    assert len(outcomes) == len(files)
    unexpected = [o for o in outcomes if "unexpected" in o]
    assert not unexpected, unexpected[:5]
    for o in outcomes:
        if "error" in o:
            assert o["file"] in o["error"], o  # the user is told which file
        elif "shown" not in o and not o.get("presentation_state"):
            # Not shown and not an error: it must be listed as skipped, with a reason.
            assert o.get("skipped") and all(o["skipped"]), o
    by_name = {Path(o["file"]).name: o for o in outcomes}
    for name in ("j2k_ybr_full.dcm", "jpegls_columns_doubled.dcm", "jpeg_lossless_bits64.dcm"):
        assert "inconsistent image header" in by_name[name]["error"], by_name[name]
    assert "error" in by_name["jpeg_lossless_damaged_markers.dcm"]
    # The run must have exercised the decoders, not only refused headers.
    assert sum("shown" in o for o in outcomes) > CASES // 5


def test_absurd_image_size_is_refused_before_decoding(tmp_path):
    from app.dicom_viewer.decoders import read_header

    ds = pydicom.dcmread(sample("MR_small_jp2klossless.dcm"))
    ds.Rows = ds.Columns = 65535
    ds.SamplesPerPixel = 3
    path = tmp_path / "huge.dcm"
    ds.save_as(path)
    header, loc = read_header(path)
    with pytest.raises(DicomFileError) as info:
        decode_frame(path, 0, header, loc)
    assert "refused" in str(info.value) and str(path) in str(info.value)
