"""Imports after PySide6 is loaded: stop shiboken reading every module's source.

shiboken6 replaces ``__import__``; for each Python module imported afterwards it calls
``shibokensupport.feature._mod_uses_pyside``, which reads the module's whole source with
``inspect.getsource`` to see whether it mentions PySide6 (for ``from __feature__ import
snake_case``, which YiQiao never uses). That is ~470 files and ~0.4 s when the media stack is
preloaded, and it runs on whichever thread imports. One fresh-clone test run died with a
segmentation fault while the media stack was being preloaded on a worker and another thread
was inside this scan (``inspect.getsource`` → ``linecache``); others report the same crash
from worker-thread imports through this hook. Answering "does not use PySide" without reading anything
keeps every feature off, as it is anyway.
"""

from __future__ import annotations

import sys


def stop_source_scan_on_import() -> None:
    """Make shiboken's per-import source scan a constant answer (idempotent)."""
    import PySide6.QtCore  # noqa: F401 - loads shibokensupport.feature

    feature = sys.modules.get("shibokensupport.feature")
    if feature is not None and hasattr(feature, "_mod_uses_pyside"):
        # setattr: the attribute exists only in some shiboken versions, checked just above.
        setattr(feature, "_mod_uses_pyside", _uses_no_features)  # noqa: B010


def _uses_no_features(_module: object) -> bool:
    return False
