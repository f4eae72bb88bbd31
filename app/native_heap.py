"""Giving the C heap's freed memory back to the system (glibc only).

A call allocates and frees video frames, packets and codec buffers on half a dozen threads.
glibc keeps what they free inside its arenas and returns memory only from an arena's top, so
a process's resident size crept up ~2–3 MB a minute in a call while the memory actually in
use stayed flat (measured with ``bench/call_soak.py --parts memory``: +27 MB in 12 minutes,
all of it given back by one ``malloc_trim``). ``malloc_trim(0)`` also releases free pages in
the middle of every arena, so the app calls it once a minute off the GUI thread.

Other C libraries (Windows' CRT heap, macOS) decommit on their own; there this is a no-op.
This module is the one place that reaches into libc's allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from dataclasses import dataclass

log = logging.getLogger(__name__)

TRIM_EVERY_S = 60.0


@dataclass(frozen=True)
class TrimResult:
    """What one trim did: resident size before and after, in bytes (0 where unknown)."""

    supported: bool
    rss_before: int = 0
    rss_after: int = 0

    @property
    def released(self) -> int:
        return max(0, self.rss_before - self.rss_after)


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only; musl has none
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return libc


_LIBC = _libc()


def resident_bytes() -> int:
    """This process's resident set size, or 0 where /proc is not available."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def trim() -> TrimResult:
    """Return the C heap's free pages to the system. Safe from any thread; takes milliseconds."""
    if _LIBC is None:
        return TrimResult(supported=False)
    before = resident_bytes()
    _LIBC.malloc_trim(0)
    result = TrimResult(supported=True, rss_before=before, rss_after=resident_bytes())
    if result.released >= 4 << 20:
        log.info("heap trim gave back %.0f MB", result.released / 1e6)
    return result
