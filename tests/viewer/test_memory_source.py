"""The viewer reads a study straight from the encrypted blob store: the frames equal those
read from the original files, and no decrypted copy is written anywhere on disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from app.dicom_viewer.decode_pool import ProcessDecodePool
from app.dicom_viewer.decoders import decode_frame, read_header
from app.dicom_viewer.index import Library, import_buffers
from app.dicom_viewer.loader import FrameSource, is_encapsulated
from app.sync.blobstore import BlobStore
from app.sync.cache import open_cache
from app.sync.dicom_transfer import for_transfer
from tests.support.ct_phantom import PhantomSpec, write_phantom


def _files_with_plain_dicom(root: Path) -> list[Path]:
    """Every file under ``root`` holding a DICOM preamble in the clear."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and b"DICM" in path.read_bytes():
            found.append(path)
    return found


def test_study_opens_from_the_encrypted_store_without_a_decrypted_file(tmp_path, monkeypatch):
    originals = write_phantom(tmp_path / "originals", PhantomSpec(size=64, slices=4))
    profile = tmp_path / "profile"
    cache = open_cache(profile / "cache.db", b"k" * 32)
    blobs = BlobStore(profile / "blobs", b"b" * 32, cache, 1 << 30)
    # As an attachment is stored: lossless JPEG-LS transfer form, encrypted.
    shas = [blobs.add_bytes(for_transfer(p.read_bytes()).data) for p in originals]
    # Any temporary file the viewer made would land here.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))

    library = Library()
    report = import_buffers(
        [(f"{sha}.dcm", lambda sha=sha: blobs.read_bytes(sha)) for sha in shas], library
    )
    assert report.added == 4 and not report.skipped
    (_patient, _study, series) = library.all_series()[0]
    assert len(series.frames) == 4
    # JPEG-LS: decoded in the worker processes like files are, sent there as bytes.
    assert all(is_encapsulated(f) for f in series.frames)
    pool = ProcessDecodePool(workers=1)
    try:
        source = FrameSource(processes=pool)
        for ref, original in zip(series.frames, originals, strict=True):
            header, loc = read_header(original)
            expected = decode_frame(original, 0, header, loc)
            np.testing.assert_array_equal(source.get(ref), expected)
    finally:
        pool.shutdown(wait=True)

    assert _files_with_plain_dicom(profile) == [], "the store holds only ciphertext"
    assert _files_with_plain_dicom(scratch) == [] and not os.listdir(scratch)
    cache.close()


def test_a_missing_blob_is_named_and_the_rest_opens(tmp_path):
    originals = write_phantom(tmp_path / "o", PhantomSpec(size=32, slices=2))
    data = [p.read_bytes() for p in originals]

    def gone() -> bytes:
        raise KeyError("blob not downloaded yet")

    library = Library()
    report = import_buffers(
        [("a.dcm", lambda: data[0]), ("b.dcm", gone), ("c.dcm", lambda: b"not dicom at all")],
        library,
    )
    assert report.added == 1
    (_p, _s, series) = library.all_series()[0]
    np.testing.assert_array_equal(FrameSource().get(series.frames[0]).shape, (32, 32))
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert "not downloaded" in reasons["b.dcm"] and "c.dcm" in reasons
