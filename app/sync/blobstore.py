"""Content-addressed blob store on disk, encrypted at rest, with an LRU budget.

A blob is named by the SHA-256 of its plaintext. On disk it is a sequence of records
``[u32 plaintext length][12-byte nonce][AES-256-GCM ciphertext + tag]`` (≤ 1 MiB each), the
record index and blob name bound in as associated data so records cannot be swapped or moved
between blobs. Records make random access cheap (tus uploads resume mid-blob) and let a
download be appended to as it arrives: after a crash the torn last record is cut off and the
download resumes from the end of the last whole record.

Bookkeeping (state, size, last access) lives in the cache's ``blobs`` table. The LRU budget
evicts only blobs the hub already holds (``uploaded`` or ``cached``), never one waiting to go
up (``upload_pending``).
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.sync.cache import Cache

RECORD_PLAIN = 1024 * 1024
_HEADER = struct.Struct(">I12s")
_TAG = 16

UPLOAD_PENDING = "upload_pending"  # made here, the hub does not have it yet: never evicted
UPLOADED = "uploaded"  # made here and held by the hub
REMOTE = "remote"  # known from a manifest, not downloaded (or evicted)
CACHED = "cached"  # downloaded from the hub


class BlobCorrupt(Exception):
    """A stored blob failed decryption or its checksum (the file is kept, the read fails)."""


class BlobMissing(KeyError):
    """The blob is not in the local store."""


def sha256_file(path: Path, chunk: int = 1024 * 1024) -> str:
    """SHA-256 of a plain file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class _RecordWriter:
    """Appends encrypted records to a file."""

    def __init__(self, f: BinaryIO, aes: AESGCM, name: str, start_index: int = 0) -> None:
        self.f = f
        self.aes = aes
        self.name = name.encode()
        self.index = start_index
        self._pending = bytearray()

    def write(self, data: bytes, last: bool = False) -> None:
        """Encrypt ``data`` into records; ``last`` also writes the short tail as a record."""
        if self._pending:
            self._pending += data
            while len(self._pending) >= RECORD_PLAIN:
                self._emit(bytes(self._pending[:RECORD_PLAIN]))
                del self._pending[:RECORD_PLAIN]
            if last:
                self.flush_record()
            return
        # Records straight from ``data``, not copied through the buffer (a received DICOM
        # instance is written in one call: the two copies cost ~0.3 ms per instance).
        view = memoryview(data)
        whole = len(view) - len(view) % RECORD_PLAIN
        for start in range(0, whole, RECORD_PLAIN):
            self._emit(view[start : start + RECORD_PLAIN])
        if whole < len(view):
            if last:
                self._emit(view[whole:])
            else:
                self._pending += view[whole:]

    def flush_record(self) -> None:
        """Write what is buffered as a (short) record: durable progress for resumes."""
        if self._pending:
            self._emit(bytes(self._pending))
            self._pending.clear()

    def _emit(self, plain: bytes | memoryview) -> None:
        nonce = os.urandom(12)
        aad = self.name + struct.pack(">Q", self.index)
        self.f.write(_HEADER.pack(len(plain), nonce) + self.aes.encrypt(nonce, plain, aad))
        self.index += 1


class BlobStore:
    """Encrypted content-addressed files under ``root`` plus their rows in ``cache``."""

    def __init__(self, root: Path, key: bytes, cache: Cache, budget_bytes: int) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "partial").mkdir(exist_ok=True)
        self._aes = AESGCM(key)
        self.cache = cache
        self.budget_bytes = budget_bytes
        self._made_dirs: set[str] = set()

    # -- paths ---------------------------------------------------------------------------------
    def path(self, sha256: str) -> Path:
        """Where the encrypted blob lives."""
        return self.root / sha256[:2] / sha256

    def partial_path(self, sha256: str) -> Path:
        """Where a download in progress accumulates."""
        return self.root / "partial" / sha256

    def has(self, sha256: str) -> bool:
        """True when the whole blob is stored locally."""
        return self.path(sha256).exists()

    # -- adding ------------------------------------------------------------------------------------
    def add_bytes(self, data: bytes, media_type: str = "application/octet-stream") -> str:
        """Store ``data`` as a blob made on this machine (queued for upload); return its name."""
        sha = self.write_bytes(data)
        self._register(sha, len(data), media_type, UPLOAD_PENDING)
        return sha

    def write_bytes(self, data: bytes) -> str:
        """Encrypt ``data`` to its file, durably, without registering it; return its name.

        The caller registers it (``register_row``) in its own transaction. One sync covers the
        content and the name: on POSIX the file is renamed into place while open and synced
        after (a journaling filesystem commits the rename with it); Windows cannot rename an
        open file, so there it is synced first (NTFS journals the rename lazily: the temporary
        name carries the blob's name so a synced file whose rename was lost can be installed
        by ``DICOM Inbox.recover``).
        """
        sha = hashlib.sha256(data).hexdigest()
        if self.has(sha):
            return sha
        tmp = self.root / "partial" / f"new-{sha}-{os.getpid()}-{time.monotonic_ns()}"
        final = self.path(sha)
        if sha[:2] not in self._made_dirs:  # one mkdir per folder, not per blob
            final.parent.mkdir(exist_ok=True)
            self._made_dirs.add(sha[:2])
        with open(tmp, "wb") as f:
            _RecordWriter(f, self._aes, sha).write(data, last=True)
            f.flush()
            if os.name == "posix":
                os.replace(tmp, final)
                os.fsync(f.fileno())
                return sha
            os.fsync(f.fileno())
        os.replace(tmp, final)
        return sha

    @staticmethod
    def register_row(db: object, sha: str, size: int, media_type: str) -> None:
        """The bookkeeping row of a blob made here, inside the caller's transaction ``db``."""
        db.execute(  # type: ignore[attr-defined]
            "INSERT INTO blobs(sha256, size, media_type, state, present, last_access) "
            "VALUES(?, ?, ?, ?, 1, ?) ON CONFLICT(sha256) DO UPDATE SET present = 1, "
            "last_access = excluded.last_access",
            (sha, size, media_type, UPLOAD_PENDING, time.time()),
        )

    def add_file(self, source: Path, media_type: str = "application/octet-stream") -> str:
        """Store a copy of ``source`` (never modified) as a blob queued for upload."""
        sha = sha256_file(source)
        if not self.has(sha):
            tmp = self.root / "partial" / f"new-{os.getpid()}-{time.monotonic_ns()}"
            with open(source, "rb") as src, open(tmp, "wb") as f:
                writer = _RecordWriter(f, self._aes, sha)
                while block := src.read(RECORD_PLAIN):
                    writer.write(block)
                writer.flush_record()
                f.flush()
                os.fsync(f.fileno())
            self._install(tmp, sha)
        self._register(sha, source.stat().st_size, media_type, UPLOAD_PENDING)
        return sha

    def adopt_from(self, other: BlobStore, sha: str) -> None:
        """Re-encrypt ``other``'s blob ``sha`` (another folder, another key) under this store's
        key, checked against its name; the row keeps its state (a remote one becomes cached).
        Raises ``BlobCorrupt`` (nothing installed) when ``other``'s key does not open it."""
        tmp = self.root / "partial" / f"adopt-{os.getpid()}-{time.monotonic_ns()}"
        h = hashlib.sha256()
        try:
            with open(tmp, "wb") as f:
                writer = _RecordWriter(f, self._aes, sha)
                for plain in other.iter_plain(sha):
                    h.update(plain)
                    writer.write(plain)
                writer.flush_record()
                f.flush()
                os.fsync(f.fileno())
            if h.hexdigest() != sha:
                raise BlobCorrupt(f"blob {sha[:12]}… does not match its checksum")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._install(tmp, sha)
        with self.cache.transaction() as db:
            db.execute(
                "UPDATE blobs SET present = 1, state = CASE WHEN state = ? THEN ? ELSE state END "
                "WHERE sha256 = ?",
                (REMOTE, CACHED, sha),
            )

    def _install(self, tmp: Path, sha: str) -> None:
        final = self.path(sha)
        final.parent.mkdir(exist_ok=True)
        os.replace(tmp, final)

    def _register(self, sha: str, size: int, media_type: str, state: str) -> None:
        with self.cache.transaction() as db:
            db.execute(
                "INSERT INTO blobs(sha256, size, media_type, state, present, last_access) "
                "VALUES(?, ?, ?, ?, 1, ?) ON CONFLICT(sha256) DO UPDATE SET present = 1, "
                "last_access = excluded.last_access, "
                # A blob the hub already holds stays 'uploaded'; a remote one we now hold
                # becomes whatever the caller says.
                "state = CASE WHEN blobs.state IN ('uploaded', 'cached') "
                "AND excluded.state = 'upload_pending' THEN blobs.state ELSE excluded.state END",
                (sha, size, media_type, state, time.time()),
            )

    def note_remote(self, sha: str, size: int, media_type: str, db: object = None) -> None:
        """Remember a blob the hub holds (from a pulled manifest) without downloading it."""
        sql = (
            "INSERT INTO blobs(sha256, size, media_type, state, present) VALUES(?, ?, ?, ?, 0) "
            "ON CONFLICT(sha256) DO NOTHING"
        )
        args = (sha, size, media_type, REMOTE)
        if db is not None:
            db.execute(sql, args)  # type: ignore[attr-defined]
        else:
            with self.cache.transaction() as tx:
                tx.execute(sql, args)

    # -- reading ----------------------------------------------------------------------------
    def _records(self, f: BinaryIO, name: str) -> Iterator[tuple[int, int, int, bytes]]:
        """Yield (index, plain offset, plain length, record bytes) until EOF or a torn tail."""
        index = 0
        offset = 0
        while True:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return
            length, _nonce = _HEADER.unpack(header)
            body = f.read(length + _TAG)
            if len(body) < length + _TAG:
                return
            yield index, offset, length, header + body
            index += 1
            offset += length

    def _decrypt(self, record: bytes, name: str, index: int) -> bytes:
        length, nonce = _HEADER.unpack(record[: _HEADER.size])
        try:
            return self._aes.decrypt(
                nonce, record[_HEADER.size :], name.encode() + struct.pack(">Q", index)
            )
        except InvalidTag as exc:
            raise BlobCorrupt(f"blob {name[:12]}… record {index} failed decryption") from exc

    def read_range(self, sha: str, offset: int, length: int) -> bytes:
        """``length`` plaintext bytes from ``offset`` (fewer at the end)."""
        path = self.path(sha)
        if not path.exists():
            raise BlobMissing(sha)
        out = bytearray()
        with open(path, "rb") as f:
            for index, start, size, record in self._records(f, sha):
                if start + size <= offset:
                    continue
                if start >= offset + length:
                    break
                plain = self._decrypt(record, sha, index)
                lo = max(0, offset - start)
                hi = min(size, offset + length - start)
                out += plain[lo:hi]
        self.touch(sha)
        return bytes(out)

    def iter_plain(self, sha: str) -> Iterator[bytes]:
        """The blob's plaintext, record by record."""
        path = self.path(sha)
        if not path.exists():
            raise BlobMissing(sha)
        with open(path, "rb") as f:
            for index, _start, _size, record in self._records(f, sha):
                yield self._decrypt(record, sha, index)

    def read_bytes(self, sha: str, verify: bool = True) -> bytes:
        """The whole blob (checked against its name when ``verify``)."""
        data = b"".join(self.iter_plain(sha))
        if verify and hashlib.sha256(data).hexdigest() != sha:
            raise BlobCorrupt(f"blob {sha[:12]}… does not match its checksum")
        self.touch(sha)
        return data

    def export_to(self, sha: str, target: Path) -> Path:
        """Decrypt the blob to ``target`` (e.g. a temporary file for the viewer)."""
        h = hashlib.sha256()
        with open(target, "wb") as out:
            for block in self.iter_plain(sha):
                h.update(block)
                out.write(block)
        if h.hexdigest() != sha:
            target.unlink(missing_ok=True)
            raise BlobCorrupt(f"blob {sha[:12]}… does not match its checksum")
        self.touch(sha)
        return target

    def size(self, sha: str) -> int:
        """Plaintext size of a stored blob."""
        rows = self.cache.query("SELECT size FROM blobs WHERE sha256 = ?", (sha,))
        if rows:
            return int(rows[0][0])
        return sum(len(b) for b in self.iter_plain(sha))

    def touch(self, sha: str) -> None:
        """Mark as recently used (LRU)."""
        with self.cache.transaction() as db:
            db.execute("UPDATE blobs SET last_access = ? WHERE sha256 = ?", (time.time(), sha))

    # -- downloads ---------------------------------------------------------------------------
    def partial_size(self, sha: str) -> int:
        """Plaintext bytes of a download in progress (a torn last record is cut off)."""
        path = self.partial_path(sha)
        if not path.exists():
            return 0
        good_end = 0
        total = 0
        with open(path, "rb") as f:
            for _i, _start, size, record in self._records(f, sha):
                good_end += len(record)
                total += size
        if good_end != path.stat().st_size:
            with open(path, "r+b") as f:
                f.truncate(good_end)
        return total

    def open_download(self, sha: str) -> _DownloadWriter:
        """Append to a download (resuming after ``partial_size(sha)`` bytes)."""
        path = self.partial_path(sha)
        records = 0
        if path.exists():
            self.partial_size(sha)
            with open(path, "rb") as f:
                records = sum(1 for _ in self._records(f, sha))
        return _DownloadWriter(self, sha, open(path, "ab"), records)

    def finish_download(self, sha: str) -> None:
        """Check the finished download against its name and install it as ``cached``."""
        path = self.partial_path(sha)
        h = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            for index, _s, n, record in self._records(f, sha):
                h.update(self._decrypt(record, sha, index))
                size += n
        if h.hexdigest() != sha:
            path.unlink()
            raise BlobCorrupt(f"downloaded blob {sha[:12]}… did not match its checksum")
        self._install(path, sha)
        self._register(sha, size, "application/octet-stream", CACHED)
        self.enforce_budget()

    # -- state and LRU -------------------------------------------------------------------------
    def mark_uploaded(self, sha: str) -> None:
        """The hub holds the blob now: it may be evicted under the budget."""
        with self.cache.transaction() as db:
            db.execute(
                "UPDATE blobs SET state = ?, error = NULL, upload_url = NULL WHERE sha256 = ?",
                (UPLOADED, sha),
            )
        self.enforce_budget()

    def enforce_budget(self) -> list[str]:
        """Evict least recently used blobs the hub holds until under budget; return them."""
        rows = self.cache.query(
            "SELECT sha256, size, state FROM blobs WHERE present = 1 ORDER BY last_access"
        )
        total = sum(r[1] for r in rows)
        evicted: list[str] = []
        for sha, size, state in rows:
            if total <= self.budget_bytes:
                break
            if state not in (UPLOADED, CACHED):
                continue  # never evict what the hub does not have yet
            self.path(sha).unlink(missing_ok=True)
            with self.cache.transaction() as db:
                db.execute(
                    "UPDATE blobs SET present = 0, state = ? WHERE sha256 = ?", (REMOTE, sha)
                )
            total -= size
            evicted.append(sha)
        return evicted

    def stored_bytes(self) -> int:
        """Plaintext bytes of blobs present locally."""
        rows = self.cache.query("SELECT COALESCE(SUM(size), 0) FROM blobs WHERE present = 1")
        return int(rows[0][0])


class _DownloadWriter:
    """Appends downloaded bytes as encrypted records; ``flush`` makes progress durable."""

    def __init__(self, store: BlobStore, sha: str, f: BinaryIO, records: int) -> None:
        self._f = f
        self._writer = _RecordWriter(f, store._aes, sha, records)

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    def flush(self) -> None:
        self._writer.flush_record()
        self._f.flush()

    def close(self) -> None:
        self.flush()
        os.fsync(self._f.fileno())
        self._f.close()

    def __enter__(self) -> _DownloadWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
