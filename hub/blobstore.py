"""Where blob bytes live, behind one small interface.

``FileBlobStore`` keeps finished blobs under ``<data>/blobs/ab/cd/<sha256>`` and unfinished
tus uploads under ``<data>/uploads/<id>``. An S3-compatible store implements the same five
methods (see docs/hub.md): uploads map to multipart uploads, ``commit`` to a copy to the
content-addressed key, ``open_range`` to a ranged GET.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol


class BlobStore(Protocol):
    """Storage of uploads in progress and of finished, content-addressed blobs."""

    def upload_path(self, upload_id: str) -> Path: ...
    def create_upload(self, upload_id: str) -> None: ...
    def append(self, upload_id: str, offset: int) -> BinaryIO: ...
    def truncate(self, upload_id: str, size: int) -> None: ...
    def discard_upload(self, upload_id: str) -> None: ...
    def hash_upload(self, upload_id: str) -> str: ...
    def commit(self, upload_id: str, sha256: str) -> None: ...
    def exists(self, sha256: str) -> bool: ...
    def size(self, sha256: str) -> int: ...
    def open_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]: ...


class FileBlobStore:
    """Blobs on a local (or mounted) filesystem."""

    chunk = 256 * 1024

    def __init__(self, blob_dir: Path, upload_dir: Path) -> None:
        self.blob_dir = Path(blob_dir)
        self.upload_dir = Path(upload_dir)
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.upload_dir.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, sha256: str) -> Path:
        return self.blob_dir / sha256[:2] / sha256[2:4] / sha256

    def upload_path(self, upload_id: str) -> Path:
        return self.upload_dir / upload_id

    def create_upload(self, upload_id: str) -> None:
        self.upload_path(upload_id).touch()

    def append(self, upload_id: str, offset: int) -> BinaryIO:
        """A file object positioned at ``offset`` for writing the next chunk."""
        f = open(self.upload_path(upload_id), "r+b")  # noqa: SIM115 - caller closes
        f.seek(offset)
        return f

    def truncate(self, upload_id: str, size: int) -> None:
        with open(self.upload_path(upload_id), "r+b") as f:
            f.truncate(size)

    def discard_upload(self, upload_id: str) -> None:
        self.upload_path(upload_id).unlink(missing_ok=True)

    def hash_upload(self, upload_id: str) -> str:
        h = hashlib.sha256()
        with open(self.upload_path(upload_id), "rb") as f:
            while block := f.read(1024 * 1024):
                h.update(block)
        return h.hexdigest()

    def commit(self, upload_id: str, sha256: str) -> None:
        """Move a verified upload to its content address (atomic rename; same bytes if present)."""
        dest = self._blob_path(sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = self.upload_path(upload_id)
        if dest.exists():
            src.unlink(missing_ok=True)
            return
        with open(src, "rb") as f:
            os.fsync(f.fileno())
        os.replace(src, dest)

    def exists(self, sha256: str) -> bool:
        return self._blob_path(sha256).is_file()

    def size(self, sha256: str) -> int:
        return self._blob_path(sha256).stat().st_size

    def open_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start``..``end`` inclusive."""
        with open(self._blob_path(sha256), "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                block = f.read(min(self.chunk, left))
                if not block:
                    break
                left -= len(block)
                yield block
