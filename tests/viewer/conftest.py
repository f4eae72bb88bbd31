"""Fixtures for the viewer tests: real sample files and a generated CT phantom."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
CHARSET_FILES = Path(pydicom.__file__).parent / "data" / "charset_files"
try:
    import data_store  # pydicom-data

    DATA_STORE = Path(data_store.__file__).parent / "data"
except ImportError:  # pragma: no cover - pydicom-data is a dev dependency
    DATA_STORE = Path("/nonexistent")


def sample(name: str) -> Path:
    """A file from pydicom's test files or pydicom-data."""
    for folder in (TEST_FILES, DATA_STORE, CHARSET_FILES):
        if (folder / name).exists():
            return folder / name
    pytest.skip(f"sample {name} not installed")


needs_dcmtk = pytest.mark.skipif(shutil.which("dcm2pnm") is None, reason="dcmtk not installed")


def dcm2pnm(path: Path, out: Path, *args: str) -> np.ndarray:
    """DCMTK's rendering of a file as a numpy array (PGM/PPM)."""
    from PIL import Image

    subprocess.run(["dcm2pnm", "-q", *args, str(path), str(out)], check=True, timeout=60)
    return np.asarray(Image.open(out))


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.ct_phantom import PhantomSpec, write_phantom

    folder = tmp_path_factory.mktemp("phantom")
    write_phantom(folder, PhantomSpec(size=256, slices=12))
    return folder


@pytest.fixture
def make_viewer(qtbot):
    """Viewer widgets shown on screen, shut down (decoder processes stopped) at the end."""
    from app.ui.viewer.viewer_widget import ViewerWidget

    made = []

    def make(author: str = "Dr Wang 王医生", size: tuple[int, int] = (1300, 900)):
        w = ViewerWidget(author=author)
        qtbot.addWidget(w)
        w.resize(*size)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()


@pytest.fixture
def viewer(make_viewer):
    """One viewer, signed by Dr Wang 王医生."""
    return make_viewer()


def open_folder(qtbot, viewer, folder):
    """Import ``folder`` and wait until the active viewport has painted its first image."""
    with qtbot.waitSignal(viewer.import_finished, timeout=60000):
        viewer.import_paths([folder])
    vp = viewer.active
    qtbot.waitUntil(lambda: vp._qimage is not None, timeout=60000)
    return vp
