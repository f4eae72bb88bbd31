"""The heap trim gives freed C memory back to the system (real glibc, real pages)."""

from __future__ import annotations

import ctypes
import sys

import pytest

from app import native_heap

BLOCK = 64 * 1024  # below glibc's mmap threshold: these live inside the heap
COUNT = 1600  # ~100 MB


@pytest.mark.skipif(native_heap._LIBC is None, reason="malloc_trim is glibc's (Linux only)")
def test_freed_heap_held_by_glibc_is_given_back() -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = []
    for _ in range(COUNT):
        ptr = libc.malloc(BLOCK)
        assert ptr
        ctypes.memset(ptr, 1, BLOCK)  # make it resident
        blocks.append(ptr)
    # Free all but every 16th: the survivors pin the heap, as long-lived buffers do in a
    # call, so glibc cannot shrink it from the top and keeps ~94 MB of free pages.
    kept = blocks[15::16]
    for i, ptr in enumerate(blocks):
        if i % 16 != 15:
            libc.free(ptr)
    try:
        held = native_heap.resident_bytes()
        result = native_heap.trim()
        assert result.supported
        assert result.released > 60e6, (held, result)
        assert native_heap.resident_bytes() < held - 60e6
    finally:
        for ptr in kept:
            libc.free(ptr)


def test_trim_is_harmless_where_it_is_not_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_heap, "_LIBC", None)
    assert native_heap.trim() == native_heap.TrimResult(supported=False)
    assert native_heap.trim().released == 0
    assert sys.platform  # the process is still here
