"""Where the native codec libraries that PyAV's wheel ships are, for the ctypes adapters.

``app.media.opus_native`` (libopus) and ``app.media.vpx_native`` (libvpx) call libraries
that PyAV already bundles (``av.libs`` on Linux and Windows, ``av/.dylibs`` on macOS, the
same folders inside a PyInstaller bundle), so the app ships no second copy; the system's
library is the last resort. ``BundledLibrary`` loads one of them once per process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def library_candidates(stem: str) -> list[str]:
    """Paths to try for library ``stem`` ("opus", "vpx"), bundled ones first."""
    roots: list[Path] = []
    try:
        import av

        av_dir = Path(av.__file__).resolve().parent
        roots += [av_dir.parent / "av.libs", av_dir / ".dylibs", av_dir.parent / "av" / ".dylibs"]
    except ImportError:  # pragma: no cover - av is a hard dependency
        pass
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots += [Path(bundle) / "av.libs", Path(bundle) / "av" / ".dylibs", Path(bundle)]
    names = [f"lib{stem}*.so*", f"lib{stem}*.dll", f"{stem}*.dll", f"lib{stem}*.dylib"]
    found = [
        path for root in roots for name in names for path in sorted(glob.glob(str(root / name)))
    ]
    system = ctypes.util.find_library(stem)
    if system:
        found.append(system)
    return found


class BundledLibrary:
    """One native library, found and prepared once per process (thread-safe).

    ``prepare`` binds the functions and checks the library is the one the adapter was written
    for, raising ``OSError``/``AttributeError``/``RuntimeError`` (or a subclass) to refuse a
    candidate; the next candidate is tried. ``load()`` returns the first accepted, or ``None`` (saying ``missing`` once).
    """

    def __init__(
        self, stem: str, prepare: Callable[[ctypes.CDLL], ctypes.CDLL], missing: str
    ) -> None:
        self.stem = stem
        self._prepare = prepare
        self._missing = missing  # logged once when no candidate is usable
        self._lib: ctypes.CDLL | None = None
        self._tried = False
        self._lock = threading.Lock()

    def load(self) -> ctypes.CDLL | None:
        """The prepared library, or ``None`` (every candidate refused, each logged once)."""
        with self._lock:
            if not self._tried:
                self._tried = True
                self._lib = self._first_usable()
            return self._lib

    def _first_usable(self) -> ctypes.CDLL | None:
        for path in library_candidates(self.stem):
            try:
                if sys.platform == "win32" and os.path.dirname(path):
                    # Its MinGW runtime DLLs sit beside it.
                    os.add_dll_directory(os.path.dirname(path))
                lib = self._prepare(ctypes.CDLL(path))
            except (OSError, AttributeError, RuntimeError) as exc:
                log.warning("lib%s at %s not usable: %s", self.stem, path, exc)
                continue
            log.info("lib%s loaded from %s", self.stem, path)
            return lib
        log.warning(self._missing)
        return None
