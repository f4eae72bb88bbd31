"""Viewer failures from real broken files read as Chinese sentences naming the file (the
decoder's own words follow in parentheses, for IT)."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from app.dicom_viewer.decoders import decode_frame, read_header
from app.dicom_viewer.errors import DicomFileError
from app.dicom_viewer.gsps import read_gsps
from app.ui.i18n import install_translators
from app.ui.viewer.problem_words import viewer_problem_text
from tests.foundation.ui_text import untranslated
from tests.viewer.conftest import sample


@pytest.fixture
def chinese(qapp):
    yield install_translators("zh_CN")
    install_translators("en")


def _raised(fn, *args) -> DicomFileError:  # noqa: ANN001
    with pytest.raises(DicomFileError) as caught:
        fn(*args)
    return caught.value


def test_broken_files_are_named_in_chinese(chinese, tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"hello, not DICOM at all")
    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]
    cut = tmp_path / "cut.dcm"
    ds.save_as(cut)
    header, location = read_header(cut)
    failures = {
        "missing": _raised(read_header, tmp_path / "missing.dcm"),
        "junk": _raised(read_header, junk),
        "cut": _raised(decode_frame, cut, 0, header, location),
        "not gsps": _raised(read_gsps, sample("CT_small.dcm")),
    }
    heads = {}
    for what, exc in failures.items():
        text = viewer_problem_text(exc)
        head, _, detail = text.partition(" (")
        assert Path(exc.path).name in head, text
        assert exc.problem in detail, text  # IT still gets the decoder's words
        heads[what] = head.replace(Path(exc.path).name, "")
        assert not untranslated([(what, heads[what])]), text
    assert len(set(heads.values())) == len(heads), heads  # each says what is wrong
    assert "无法显示" not in "".join(heads.values())  # none fell back to the generic one
