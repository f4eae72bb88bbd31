"""The profile's keys, also kept wrapped by a key derived from the user's password.

The cache and blob keys live in the OS keyring. If the keyring loses them (Windows profile
reset, keyring wiped, disk moved to a new PC) the cache becomes unreadable, and with it every
record not yet sent to the hub. So beside each cache file, ``cache.db.keywrap`` holds both keys
encrypted (AES-256-GCM) under Argon2id(password, salt): at the next sign-in with the password
the old file can be opened, its outbox pushed, and only then retired. Threat model:
``docs/sync.md`` ("Keys and recovery").

The file is JSON: ``{"v": 1, "kdf": "argon2id", "m": KiB, "t": passes, "p": lanes,
"salt": b64, "nonce": b64, "box": b64}``; the parameters travel with it, so raising the cost
later still opens old files.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

WRAP_SUFFIX = ".keywrap"
_AAD = b"yiqiao-profile-keys-v1"
_NAMES = ("cache", "blob")


@dataclass(frozen=True)
class KdfCost:
    """Argon2id cost. RFC 9106's second recommended setting (64 MiB, 3 passes); one
    derivation takes ~0.3 s on a modest PC, once per sign-in, on a worker thread."""

    memory_kib: int = 64 * 1024
    passes: int = 3
    lanes: int = 4


class KeyWrapUnreadable(Exception):
    """The ``.keywrap`` file is damaged or of an unknown kind (never a wrong password)."""


def wrap_path(db_path: Path) -> Path:
    """Where the wrapped keys of the cache file ``db_path`` live."""
    return db_path.with_name(db_path.name + WRAP_SUFFIX)


def _derive(password: str, salt: bytes, cost: KdfCost) -> bytes:
    kdf = Argon2id(
        salt=salt,
        length=32,
        iterations=cost.passes,
        lanes=cost.lanes,
        memory_cost=cost.memory_kib,
    )
    return kdf.derive(password.encode("utf-8"))


@dataclass(frozen=True)
class PasswordKey:
    """Argon2id(password, salt) as derived at sign-in: wraps more key files this session (a
    set-aside cache opened with an earlier password) without keeping the password."""

    salt: bytes
    key: bytes
    cost: KdfCost


def wrap_keys(path: Path, password: str, keys: dict[str, bytes], cost: KdfCost = KdfCost()) -> None:
    """Write ``keys`` ({"cache": …, "blob": …}) to ``path`` wrapped by ``password`` (atomic)."""
    salt = os.urandom(16)
    wrap_with(path, PasswordKey(salt, _derive(password, salt, cost), cost), keys)


def wrap_with(path: Path, password_key: PasswordKey, keys: dict[str, bytes]) -> None:
    """Write ``keys`` to ``path`` wrapped by an already derived password key (atomic)."""
    nonce = os.urandom(12)
    plain = json.dumps({n: base64.b64encode(keys[n]).decode() for n in _NAMES}).encode()
    box = AESGCM(password_key.key).encrypt(nonce, plain, _AAD)
    cost = password_key.cost
    doc = {
        "v": 1,
        "kdf": "argon2id",
        "m": cost.memory_kib,
        "t": cost.passes,
        "p": cost.lanes,
        "salt": base64.b64encode(password_key.salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "box": base64.b64encode(box).decode(),
    }
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="ascii") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read(path: Path) -> tuple[KdfCost, bytes, bytes, bytes]:
    """(cost, salt, nonce, box) of a key file; ``KeyWrapUnreadable`` if damaged/unknown."""
    try:
        doc = json.loads(path.read_text("ascii"))
        if doc.get("v") != 1 or doc.get("kdf") != "argon2id":
            raise KeyWrapUnreadable(f"{path.name}: unknown key file version {doc.get('v')!r}")
        cost = KdfCost(int(doc["m"]), int(doc["t"]), int(doc["p"]))
        if not (8 <= cost.memory_kib <= 4 * 1024 * 1024 and 1 <= cost.passes <= 100):
            raise KeyWrapUnreadable(f"{path.name}: key derivation cost out of range")
        salt = base64.b64decode(doc["salt"], validate=True)
        nonce = base64.b64decode(doc["nonce"], validate=True)
        box = base64.b64decode(doc["box"], validate=True)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError) as exc:
        raise KeyWrapUnreadable(f"{path.name} is damaged: {exc}") from exc
    return cost, salt, nonce, box


def _open(key: bytes, nonce: bytes, box: bytes) -> dict[str, bytes] | None:
    try:
        plain = AESGCM(key).decrypt(nonce, box, _AAD)
    except InvalidTag:
        return None  # wrong password (or a file whose box was altered: same answer)
    keys = json.loads(plain)
    return {n: base64.b64decode(keys[n]) for n in _NAMES}


def unwrap_keys(path: Path, password: str) -> dict[str, bytes] | None:
    """The keys in ``path``, or None when ``password`` is not the one that wrapped them.

    Raises ``KeyWrapUnreadable`` for a damaged or unknown file, ``OSError`` if unreadable."""
    cost, salt, nonce, box = _read(path)
    return _open(_derive(password, salt, cost), nonce, box)


def keep_wrapped(
    db_path: Path, password: str, keys: dict[str, bytes], cost: KdfCost = KdfCost()
) -> bool:
    """Make sure ``db_path``'s key file holds ``keys`` under ``password``; True if rewritten
    (first sign-in, new password, or a file made for other keys)."""
    return keep_wrapped_key(db_path, password, keys, cost)[0]


def keep_wrapped_key(
    db_path: Path, password: str, keys: dict[str, bytes], cost: KdfCost = KdfCost()
) -> tuple[bool, PasswordKey]:
    """:func:`keep_wrapped`, also returning the password key it derived (one derivation)."""
    path = wrap_path(db_path)
    if path.exists():
        try:
            file_cost, salt, nonce, box = _read(path)
            derived = _derive(password, salt, file_cost)
            if _open(derived, nonce, box) == keys:
                return False, PasswordKey(salt, derived, file_cost)
        except (KeyWrapUnreadable, OSError):
            pass
    salt = os.urandom(16)
    password_key = PasswordKey(salt, _derive(password, salt, cost), cost)
    wrap_with(path, password_key, keys)
    return True, password_key
