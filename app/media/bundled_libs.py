"""Where the native codec libraries that PyAV's wheel ships are, for the ctypes adapters.

``app.media.opus_native`` (libopus) and ``app.media.vpx_native`` (libvpx) call libraries
that PyAV already bundles (``av.libs`` on Linux and Windows, ``av/.dylibs`` on macOS, the
same folders inside a PyInstaller bundle), so the app ships no second copy; the system's
library is the last resort.
"""

from __future__ import annotations

import ctypes.util
import glob
import sys
from pathlib import Path


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
