"""The local record cache: one SQLCipher database per user profile, WAL mode.

The key is random, made on first use and kept only in the OS keyring. A cache that cannot be
opened (wrong key, damaged file) is never deleted or overwritten: ``CacheOpenError`` names the
problem, and ``set_aside`` renames the files so a fresh cache can start while the old one is
kept for recovery.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlcipher3

from app import credentials
from app.sync.migrations import MIGRATIONS

_KEYCHECK_LABEL = b"yiqiao-cache-keycheck-v1"


class CacheOpenError(Exception):
    """The cache file exists but cannot be used; ``path`` is kept untouched."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class CacheKeyWrong(CacheOpenError):
    """The key from the keyring does not open this cache (keyring reset or file copied)."""


class CacheDamaged(CacheOpenError):
    """The file is not a readable SQLCipher database (truncated, overwritten, disk error)."""


class CacheTooNew(CacheOpenError):
    """The cache was written by a newer YiQiao whose schema this version does not know."""


def cache_key(profile: str) -> bytes:
    """The profile's cache key from the keyring (created on first use)."""
    return credentials.get_or_create_key(f"cache-key:{profile}")


def blob_key(profile: str) -> bytes:
    """The profile's blob-store key from the keyring (created on first use)."""
    return credentials.get_or_create_key(f"blob-key:{profile}")


def put_back_blob_key(profile: str, key: bytes) -> None:
    """Return a blob key recovered from the password-wrapped copy to the keyring."""
    import base64

    credentials.set_secret(f"blob-key:{profile}", base64.b64encode(key).decode("ascii"))


def _keycheck(key: bytes) -> str:
    # A plaintext sidecar holding an HMAC of a constant lets us tell "wrong key" from
    # "damaged file" (SQLCipher reports both as "file is not a database").
    return hmac.new(key, _KEYCHECK_LABEL, hashlib.sha256).hexdigest()


class Cache:
    """An open, migrated cache. One connection shared by threads under a lock."""

    def __init__(self, path: Path, key: bytes, migrations: list[str] | None = None) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._migrations = MIGRATIONS if migrations is None else migrations
        self.conn = self._open(key)

    # -- opening -------------------------------------------------------------------------
    def _open(self, key: bytes) -> Any:
        existed = self.path.exists() and self.path.stat().st_size > 0
        check_file = self.path.with_name(self.path.name + ".keycheck")
        if existed and check_file.exists():
            if check_file.read_text("ascii").strip() != _keycheck(key):
                raise CacheKeyWrong(
                    f"The local records file {self.path} is locked with a different key than "
                    "the one in this computer's keyring (the keyring may have been reset). "
                    "The file has been kept for recovery.",
                    self.path,
                )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlcipher3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=30
        )
        try:
            conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlcipher3.DatabaseError(f"journal mode stayed {mode}")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            if existed:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
                if result != "ok":
                    raise sqlcipher3.DatabaseError(f"integrity check: {result}")
        except sqlcipher3.DatabaseError as exc:
            conn.close()
            if existed and not check_file.exists():
                raise CacheKeyWrong(
                    f"The local records file {self.path} cannot be opened with the key in "
                    f"this computer's keyring ({exc}). The file has been kept for recovery.",
                    self.path,
                ) from exc
            raise CacheDamaged(
                f"The local records file {self.path} is damaged ({exc}). "
                "The file has been kept for recovery.",
                self.path,
            ) from exc
        if not check_file.exists():
            check_file.write_text(_keycheck(key), "ascii")
        self.conn = conn
        self._migrate()
        return conn

    def _migrate(self) -> None:
        version = self.version()
        if version > len(self._migrations):
            self.conn.close()
            raise CacheTooNew(
                f"The local records file {self.path} was written by a newer YiQiao "
                f"(schema {version}, this version knows {len(self._migrations)}).",
                self.path,
            )
        for number in range(version + 1, len(self._migrations) + 1):
            with self.transaction() as db:
                # Another process (the DICOM receiver, a second YiQiao) may have migrated
                # between our read and this write lock.
                if self.version() >= number:
                    continue
                for statement in _split(self._migrations[number - 1]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def version(self) -> int:
        """The schema version this file has reached."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    # -- use -------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rollback on error), serialised across threads."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[tuple]:
        """Run a read query and return all rows."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def get_state(self, key: str, default: str | None = None) -> str | None:
        """A value from ``sync_state``."""
        rows = self.query("SELECT value FROM sync_state WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_state(self, key: str, value: str, db: Any = None) -> None:
        """Store a value in ``sync_state`` (inside ``db``'s transaction when given)."""
        sql = "INSERT INTO sync_state(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        if db is not None:
            db.execute(sql, (key, value))
            return
        with self.transaction() as tx:
            tx.execute(sql, (key, value))

    def close(self) -> None:
        """Checkpoint and close."""
        with self._lock:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlcipher3.DatabaseError:
                pass
            self.conn.close()


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip() and not _only_comments(s)]


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


def set_aside(path: Path) -> Path:
    """Rename an unusable cache (and its WAL, SHM, key check and password-wrapped keys) out of
    the way; return the new name of the main file. Nothing is deleted."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.unreadable-{stamp}")
    n = 1
    while target.exists():  # two in the same second: never overwrite a kept file
        target = path.with_name(f"{path.name}.unreadable-{stamp}-{n}")
        n += 1
    for suffix in ("", "-wal", "-shm", ".keycheck", ".keywrap"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            source.rename(target.with_name(target.name + suffix))
    return target


def open_cache(path: Path, key: bytes) -> Cache:
    """Open (creating or migrating) the cache at ``path``; raise ``CacheOpenError`` if unusable."""
    return Cache(path, key)
