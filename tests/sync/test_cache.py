"""The encrypted cache: encrypted on disk, migrates from every earlier version, and refuses a
wrong key or a damaged file with a clear message while keeping the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.sync import migrations
from app.sync.cache import Cache, CacheDamaged, CacheKeyWrong, cache_key, open_cache, set_aside

KEY = bytes(range(32))


def test_file_is_encrypted_and_in_wal_mode(tmp_path: Path) -> None:
    cache = open_cache(tmp_path / "cache.db", KEY)
    with cache.transaction() as db:
        db.execute(
            "INSERT INTO documents(id, type, fields, updated_at) VALUES('p1', 'patient', ?, 'now')",
            (json.dumps({"name": "王秀英 SECRETNAME"}),),
        )
    assert cache.query("PRAGMA journal_mode")[0][0] == "wal"
    cache.close()
    raw = (tmp_path / "cache.db").read_bytes()
    assert b"SECRETNAME" not in raw and b"SQLite format 3" not in raw
    assert "王秀英".encode() not in raw


def test_key_lives_in_keyring_and_is_stable() -> None:
    first = cache_key("alice@hub")
    assert len(first) == 32
    assert cache_key("alice@hub") == first
    assert cache_key("bob@hub") != first


def test_wrong_key_is_named_and_file_kept(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    open_cache(path, KEY).close()
    before = path.read_bytes()
    with pytest.raises(CacheKeyWrong, match="different key"):
        open_cache(path, b"\x01" * 32)
    assert path.read_bytes() == before
    # also without the key-check sidecar (e.g. the file was copied alone)
    (tmp_path / "cache.db.keycheck").unlink()
    with pytest.raises(CacheKeyWrong, match="cannot be opened"):
        open_cache(path, b"\x01" * 32)
    assert path.read_bytes() == before
    # the right key still opens it
    assert open_cache(path, KEY).version() == migrations.LATEST


def test_damaged_file_is_named_kept_and_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    cache = open_cache(path, KEY)
    with cache.transaction() as db:
        for i in range(200):
            db.execute(
                "INSERT INTO documents(id, type, fields, updated_at) VALUES(?, 'note', ?, 'now')",
                (f"n{i}", json.dumps({"text": "x" * 500})),
            )
    cache.close()
    data = bytearray(path.read_bytes())
    data[5000:9000] = os.urandom(4000)  # garbage in the middle of the pages
    path.write_bytes(bytes(data))
    with pytest.raises(CacheDamaged, match="damaged") as info:
        open_cache(path, KEY)
    assert info.value.path == path
    assert path.read_bytes() == bytes(data)  # untouched
    kept = set_aside(path)
    assert kept.read_bytes() == bytes(data) and not path.exists()
    assert open_cache(path, KEY).version() == migrations.LATEST  # a fresh cache starts


SAMPLE_ROWS = {
    1: [
        "INSERT INTO documents(id, type, fields, rev, updated_at) VALUES('d-synced', 'patient', '{\"name\":\"A\"}', 3, 't')",
        "INSERT INTO documents(id, type, fields, rev, updated_at) VALUES('d-dirty', 'patient', '{\"name\":\"B\"}', 2, 't')",
        "INSERT INTO outbox(change_id, doc_id, change, created_at) VALUES('c1', 'd-dirty', '{}', 't')",
        "INSERT INTO sync_state(key, value) VALUES('pull_cursor', '41')",
    ],
    2: [
        "INSERT INTO rejected(change_id, doc_id, change, reason, message, at) VALUES('c0', 'd-synced', '{}', 'invalid', 'm', 't')",
    ],
    3: [
        "INSERT INTO blobs(sha256, size, state, present) VALUES('ab', 10, 'upload_pending', 1)",
    ],
}


def _schema(cache: Cache) -> list[tuple]:
    return cache.query(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    )


@pytest.mark.parametrize("start", range(0, migrations.LATEST + 1))
def test_migrates_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    old = Cache(tmp_path / "old.db", KEY, migrations.MIGRATIONS[:start])
    assert old.version() == start
    with old.transaction() as db:
        for version in range(1, start + 1):
            for sql in SAMPLE_ROWS.get(version, []):
                db.execute(sql)
    old.close()

    migrated = open_cache(tmp_path / "old.db", KEY)
    fresh = open_cache(tmp_path / "fresh.db", KEY)
    assert migrated.version() == migrations.LATEST
    assert _schema(migrated) == _schema(fresh)
    if start >= 1:
        assert migrated.get_state("pull_cursor") == "41"
        synced = migrated.query("SELECT hub_rev, hub_fields FROM documents WHERE id = 'd-synced'")
        dirty = migrated.query("SELECT hub_rev, rev FROM documents WHERE id = 'd-dirty'")
        if start == 1:
            # the hub's version of a synced document is known; a dirty one waits for a pull
            assert synced == [(3, '{"name":"A"}')]
            assert dirty == [(0, 2)]
        assert migrated.query("SELECT count(*) FROM outbox")[0][0] == 1
    if start >= 3:
        assert migrated.query("SELECT state FROM blobs")[0][0] == "upload_pending"
