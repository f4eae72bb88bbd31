"""Encrypted blob store: ciphertext on disk, random access, resumable downloads, and an LRU
budget that never evicts a blob the hub does not have yet."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from app.sync import blobstore
from app.sync.blobstore import BlobCorrupt, BlobStore
from app.sync.cache import open_cache


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    cache = open_cache(tmp_path / "cache.db", b"k" * 32)
    return BlobStore(tmp_path / "blobs", b"b" * 32, cache, budget_bytes=3_000_000)


def test_round_trip_encrypted_and_content_addressed(store: BlobStore, tmp_path: Path) -> None:
    data = b"PATIENT-PIXELS" * 200_000  # 2.8 MB: several records
    source = tmp_path / "study.dcm"
    source.write_bytes(data)
    sha = store.add_file(source)
    assert sha == hashlib.sha256(data).hexdigest()
    assert source.read_bytes() == data  # the original is never touched
    on_disk = store.path(sha).read_bytes()
    assert b"PATIENT-PIXELS" not in on_disk
    assert store.read_bytes(sha) == data
    assert store.read_range(sha, 1_048_570, 20) == data[1_048_570:1_048_590]
    assert store.read_range(sha, len(data) - 5, 100) == data[-5:]


def test_tampered_blob_is_refused(store: BlobStore) -> None:
    sha = store.add_bytes(b"x" * 5000)
    raw = bytearray(store.path(sha).read_bytes())
    raw[100] ^= 0xFF
    store.path(sha).write_bytes(bytes(raw))
    with pytest.raises(BlobCorrupt):
        store.read_bytes(sha)


def test_download_resumes_after_torn_write(store: BlobStore) -> None:
    data = os.urandom(300_000)
    sha = hashlib.sha256(data).hexdigest()
    with store.open_download(sha) as w:
        w.write(data[:100_000])
    # a crash mid-record leaves a torn tail
    with open(store.partial_path(sha), "ab") as f:
        f.write(b"\x00\x01\x00\x00garbage")
    assert store.partial_size(sha) == 100_000
    with store.open_download(sha) as w:
        w.write(data[100_000:])
    store.finish_download(sha)
    assert store.read_bytes(sha) == data


def test_wrong_download_is_discarded(store: BlobStore) -> None:
    sha = hashlib.sha256(b"expected").hexdigest()
    with store.open_download(sha) as w:
        w.write(b"something else")
    with pytest.raises(BlobCorrupt):
        store.finish_download(sha)
    assert not store.has(sha)


def test_lru_budget_never_evicts_unuploaded(store: BlobStore) -> None:
    pending = [store.add_bytes(os.urandom(1_000_000)) for _ in range(4)]  # over budget
    assert store.enforce_budget() == []  # none of these is on the hub yet
    assert all(store.has(s) for s in pending)
    store.mark_uploaded(pending[0])  # now evictable, and the oldest
    assert not store.has(pending[0])
    assert all(store.has(s) for s in pending[1:])
    for s in pending[1:]:
        store.mark_uploaded(s)
    store.read_bytes(pending[1])  # recently used
    kept = [s for s in pending[1:] if store.has(s)]
    assert pending[1] in kept and store.stored_bytes() <= 3_000_000
    state = store.cache.query("SELECT state FROM blobs WHERE sha256 = ?", (pending[0],))[0][0]
    assert state == blobstore.REMOTE  # known, can be downloaded again
