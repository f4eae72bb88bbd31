"""The password-wrapped copy of the profile keys: right password opens, wrong never does,
damage is told apart from a wrong password, and the shipped cost is a real one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.sync.keywrap import KdfCost, KeyWrapUnreadable, keep_wrapped, unwrap_keys, wrap_path

KEYS = {"cache": os.urandom(32), "blob": os.urandom(32)}


def test_shipped_cost_is_argon2id_at_rfc9106_strength(tmp_path: Path) -> None:
    path = tmp_path / "cache.db.keywrap"
    from app.sync.keywrap import wrap_keys

    wrap_keys(path, "密码-correct", KEYS)
    doc = json.loads(path.read_text())
    assert doc["kdf"] == "argon2id" and doc["m"] >= 64 * 1024 and doc["t"] >= 3
    assert unwrap_keys(path, "密码-correct") == KEYS
    assert unwrap_keys(path, "密码-Correct") is None
    assert KEYS["cache"].hex() not in path.read_text()


def test_keep_wrapped_rewrites_only_when_needed(tmp_path: Path) -> None:
    cheap = KdfCost(8 * 1024, 1, 1)
    db = tmp_path / "cache.db"
    assert keep_wrapped(db, "pw-1", KEYS, cheap)
    assert not keep_wrapped(db, "pw-1", KEYS, cheap)
    assert keep_wrapped(db, "pw-2", KEYS, cheap), "a new password re-wraps"
    assert unwrap_keys(wrap_path(db), "pw-1") is None
    assert unwrap_keys(wrap_path(db), "pw-2") == KEYS


@pytest.mark.parametrize(
    "garbage",
    [b"", b"{", b'{"v": 9}', b'{"v": 1, "kdf": "argon2id"}', "é".encode("latin-1")],
)
def test_damaged_key_file_is_named_not_mistaken_for_a_wrong_password(
    tmp_path: Path, garbage: bytes
) -> None:
    path = tmp_path / "cache.db.keywrap"
    path.write_bytes(garbage)
    with pytest.raises(KeyWrapUnreadable):
        unwrap_keys(path, "pw")
