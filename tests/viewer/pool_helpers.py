"""Worker functions for the decode-pool tests. They run in spawned worker processes, so they
live in an importable module (not in a test file)."""

from __future__ import annotations

import os
import sys

import numpy as np

from app.dicom_viewer.decode_pool import decode_in_process


def decode_or_die(path: str, frame: int) -> np.ndarray:
    """Like the real worker, but the process dies (as a segfaulting decoder would) on files
    whose name contains 'crash'."""
    if "crash" in os.path.basename(path):
        os._exit(3)
    return decode_in_process(path, frame)


def modules_in_worker(path: str, frame: int) -> np.ndarray:
    """Decode as the real worker does, then report whether Qt got imported alongside."""
    decode_in_process(path, frame)
    return np.array(
        [int("PySide6" in sys.modules), int("app.dicom_viewer.decoders" in sys.modules)]
    )


def fail_to_start() -> None:
    """Worker initializer that fails, as when security software stops child processes."""
    raise RuntimeError("child processes are not allowed here")
