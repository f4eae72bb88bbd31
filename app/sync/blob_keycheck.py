"""Does the keyring's blob key still open the attached files? (And what to do when not.)

The cache key and the blob key are separate keyring entries, so the keyring can lose only
the blob key: the records open, but every attachment stored here is then sealed under a key
nobody has, and a fresh key made on the spot would mix two keys in one folder. So:

- the cache remembers an HMAC of the blob key (``sync_state.blob_keycheck``; for caches made
  before it, one stored file is test-decrypted) and every start-up compares;
- on a mismatch, the password-wrapped copy of the keys (``cache.db.keywrap``) is tried first:
  if it holds this cache's key and a blob key that fits, that key goes back into the keyring
  and nothing else happens;
- otherwise the blob folder is set aside whole as ``blobs.keylost-<stamp>`` with a copy of
  the key file as it was (``blobs.keylost-<stamp>.keywrap``), nothing is deleted, the files
  the hub already holds are marked to be downloaded again, and those it does not (made here,
  not yet uploaded) wait — listed to the user — until a password that opens the kept key
  file is entered (:func:`restore_keylost`): they are then re-encrypted under the new key and
  uploaded as before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from app.sync import blobstore as bs
from app.sync.blobstore import BlobCorrupt, BlobMissing, BlobStore
from app.sync.cache import Cache
from app.sync.keywrap import KeyWrapUnreadable, unwrap_keys

STATE_KEY = "blob_keycheck"
_LABEL = b"yiqiao-blob-keycheck-v1"
_KEYLOST = re.compile(r"^blobs\.keylost-(\d{8}-\d{6}(?:-\d+)?)$")


def keycheck(key: bytes) -> str:
    """What the cache remembers of the blob key (an HMAC: it reveals nothing of the key)."""
    return hmac.new(key, _LABEL, hashlib.sha256).hexdigest()


def key_fits(cache: Cache, blobs_dir: Path, key: bytes) -> bool | None:
    """True/False whether ``key`` is the one the stored files were sealed with; None when
    there is nothing to tell by (no check remembered and no file stored)."""
    stored = cache.get_state(STATE_KEY)
    if stored:
        return hmac.compare_digest(stored, keycheck(key))
    return _probe(cache, blobs_dir, key)


def _probe(cache: Cache, blobs_dir: Path, key: bytes) -> bool | None:
    if not blobs_dir.is_dir():
        return None
    probe = BlobStore(blobs_dir, key, cache, 0)  # only reads (no rows are touched)
    for (sha,) in cache.query("SELECT sha256 FROM blobs WHERE present = 1 LIMIT 20"):
        if not probe.path(sha).exists():
            continue
        try:
            next(probe.iter_plain(sha), b"")
            return True
        except BlobCorrupt:
            return False
        except (BlobMissing, OSError):
            continue
    return None


def remember(cache: Cache, key: bytes) -> None:
    """Remember ``key`` as the blob key of this cache."""
    cache.set_state(STATE_KEY, keycheck(key))


def key_from_wrap(
    wrap: Path, password: str, cache_key: bytes, cache: Cache, blobs_dir: Path
) -> bytes | None:
    """The blob key kept in ``wrap`` under ``password``, if that file belongs to this cache
    (same cache key) and its blob key fits the stored files; else None."""
    try:
        keys = unwrap_keys(wrap, password) if wrap.exists() else None
    except (KeyWrapUnreadable, OSError):
        return None
    if not keys or keys.get("cache") != cache_key:
        return None
    return keys["blob"] if key_fits(cache, blobs_dir, keys["blob"]) is not False else None


@dataclass(frozen=True)
class LostFile:
    """An attachment whose stored bytes the current key cannot open."""

    sha256: str
    title: str  # the attachment's title ("" if no record names it)
    patient: str  # whose it is (the patient's name; "" if not known here)
    size: int
    on_hub: bool  # the hub holds it: it is simply downloaded again


def affected(cache: Cache) -> list[LostFile]:
    """The files stored here (sealed with the lost key), named by their attachments."""
    names = {
        doc_id: str(_fields(fields).get("name") or "")
        for doc_id, fields in cache.query("SELECT id, fields FROM documents WHERE type = 'patient'")
    }
    owners: dict[str, tuple[str, str]] = {}
    for fields, patient_id in cache.query(
        "SELECT fields, patient_id FROM documents WHERE type = 'attachment'"
    ):
        doc = _fields(fields)
        for blob in doc.get("blobs") or []:
            if isinstance(blob, dict) and blob.get("sha256"):
                owners.setdefault(
                    str(blob["sha256"]),
                    (str(doc.get("title") or ""), names.get(str(patient_id or ""), "")),
                )
    rows = cache.query("SELECT sha256, size, state FROM blobs WHERE present = 1 ORDER BY rowid")
    return [
        LostFile(sha, *owners.get(sha, ("", "")), int(size), state != bs.UPLOAD_PENDING)
        for sha, size, state in rows
    ]


def _fields(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def set_aside(folder: Path, cache: Cache, wrap: Path) -> Path:
    """Move ``folder/blobs`` to ``blobs.keylost-<stamp>`` with a copy of the key file, and mark
    its files absent (the hub's are fetched again; the rest wait for :func:`restore_keylost`).
    Nothing is deleted. Returns the kept folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"blobs.keylost-{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"blobs.keylost-{stamp}-{n}"
    source = folder / "blobs"
    if source.exists():
        source.rename(target)
    else:
        target.mkdir()
    if wrap.exists():
        shutil.copy2(wrap, _wrap_of(target))
    with cache.transaction() as db:
        db.execute(
            "UPDATE blobs SET present = 0 WHERE present = 1 AND state = ?", (bs.UPLOAD_PENDING,)
        )
        db.execute("UPDATE blobs SET present = 0, state = ? WHERE present = 1", (bs.REMOTE,))
    return target


def _wrap_of(kept: Path) -> Path:
    return kept.with_name(kept.name + ".keywrap")


def find_keylost(folder: Path) -> list[Path]:
    """Blob folders set aside for a lost key, oldest first."""
    return [p for p in sorted(folder.glob("blobs.keylost-*")) if _KEYLOST.match(p.name)]


def restore_keylost(kept: Path, password: str, store: BlobStore) -> int | str:
    """Open a kept blob folder with ``password`` and re-encrypt its files into ``store``;
    returns how many files came back, or "wrong_password" / "no_key" (nothing changed).
    When every file came back the folder is renamed ``….restored`` (kept, never reopened)."""
    wrap = _wrap_of(kept)
    if not wrap.exists():
        return "no_key"
    try:
        keys = unwrap_keys(wrap, password)
    except (KeyWrapUnreadable, OSError):
        return "no_key"
    if keys is None:
        return "wrong_password"
    old = BlobStore(kept, keys["blob"], store.cache, 0)
    wanted = {
        sha
        for (sha,) in store.cache.query("SELECT sha256 FROM blobs WHERE present = 0")
        if old.path(sha).exists()
    }
    restored = 0
    for sha in sorted(wanted):
        try:
            store.adopt_from(old, sha)
            restored += 1
        except BlobCorrupt:
            if restored == 0:
                return "no_key"  # a key file, but not the key these files were sealed with
    if restored == len(wanted):
        kept.rename(kept.with_name(kept.name + ".restored"))
        wrap.rename(wrap.with_name(kept.name + ".restored.keywrap"))
    return restored
