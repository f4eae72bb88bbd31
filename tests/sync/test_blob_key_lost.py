"""The keyring loses only the blob key (records open fine): detected at start-up, the user is
told which files, nothing is deleted or re-encrypted wrongly, and the password brings the
files back (real SQLCipher cache, real encrypted blob files, the real hub)."""

from __future__ import annotations

from pathlib import Path

from app import credentials
from app.protocol.sync import DocType
from app.sync.blob_keycheck import find_keylost
from app.sync.hub_client import HubClient
from app.sync.keywrap import KdfCost
from app.sync.session import open_user_session, profile_name
from tests.sync.hub_harness import PASSWORD

CHEAP = KdfCost(memory_kib=8 * 1024, passes=1, lanes=1)
SENT = b"chest x-ray bytes " * 6000
WAITING = b"ecg photo bytes " * 6000


def _sign_in(url: str):  # noqa: ANN202
    client = HubClient(url, timeout=60)
    return client, client.login("doc1", PASSWORD).user


def _profile_with_two_photos(url: str, data: Path):  # noqa: ANN202
    """One photo already on the hub, one made offline (not yet sent)."""
    client, user = _sign_in(url)
    session = open_user_session(user, url, client, data_dir=data, password=PASSWORD, kdf_cost=CHEAP)
    store = session.store
    patient = store.create(DocType.patient, {"name": "钱淑珍", "patient_number": "QS-11"}).id
    sent = session.blobs.add_bytes(SENT, "image/png")
    store.create(
        DocType.attachment,
        {"kind": "photo", "title": "胸片", "blobs": [{"sha256": sent, "size": len(SENT)}]},
        patient_id=patient,
    )
    session.engine.run_once()
    assert store.outbox_size() == 0
    waiting = session.blobs.add_bytes(WAITING, "image/png")
    ecg = store.create(
        DocType.attachment,
        {
            "kind": "photo",
            "title": "心电图照片",
            "blobs": [{"sha256": waiting, "size": len(WAITING)}],
        },
        patient_id=patient,
    ).id
    session.close()
    profile = profile_name(user.username, url)
    credentials.delete_secret(f"blob-key:{profile}")  # only the blob key goes
    return user, profile, sent, waiting, ecg


def test_lost_blob_key_is_named_kept_and_restored_by_the_password(hub, tmp_path: Path) -> None:
    data = tmp_path / "data"
    user, profile, sent, waiting, ecg = _profile_with_two_photos(hub.url, data)
    folder = data / "profiles" / profile

    # Start-up without the password (signed in by a kept token): detected and told.
    client, user = _sign_in(hub.url)
    session = open_user_session(user, hub.url, client, data_dir=data)
    assert [n.code for n in session.notices] == ["blob_key_lost"]
    params = session.notices[0].params
    assert params["waiting"] == [{"patient": "钱淑珍", "title": "心电图照片"}]
    assert params["on_hub"] == 1
    (kept,) = find_keylost(folder)
    assert params["kept"] == str(kept)
    assert (kept / waiting[:2] / waiting).exists() and (kept / sent[:2] / sent).exists()
    assert kept.with_name(kept.name + ".keywrap").exists()
    # The records are untouched and still owed; new files use the new key and read back.
    assert session.store.get(ecg).fields["title"] == "心电图照片"
    owed = session.store.outbox_size()
    assert owed == 1
    fresh = session.blobs.add_bytes(b"new photo after the loss", "image/png")
    assert session.blobs.read_bytes(fresh) == b"new photo after the loss"
    assert not session.blobs.has(waiting)
    session.engine.run_once()  # the waiting file is not uploaded as garbage, nor dropped
    assert client.blob_status([waiting]).blobs[0].present is False
    session.close()

    # The next sign-in with the password: the kept files come back under the new key.
    client, user = _sign_in(hub.url)
    again = open_user_session(
        user, hub.url, client, data_dir=data, password=PASSWORD, kdf_cost=CHEAP
    )
    assert [(n.code, n.params) for n in again.notices] == [("blob_files_restored", {"files": 2})]
    assert again.blobs.read_bytes(waiting) == WAITING
    assert again.blobs.read_bytes(fresh) == b"new photo after the loss"
    assert find_keylost(folder) == [] and kept.with_name(kept.name + ".restored").exists()
    again.engine.run_once()
    assert again.store.outbox_size() == 0
    assert client.blob_status([waiting]).blobs[0].present
    again.close()


def test_signing_in_with_the_password_puts_the_blob_key_back(hub, tmp_path: Path) -> None:
    data = tmp_path / "data"
    user, profile, sent, waiting, _ecg = _profile_with_two_photos(hub.url, data)
    client, user = _sign_in(hub.url)
    session = open_user_session(
        user, hub.url, client, data_dir=data, password=PASSWORD, kdf_cost=CHEAP
    )
    assert [n.code for n in session.notices] == ["blob_key_restored"]
    assert session.blobs.read_bytes(waiting) == WAITING
    assert find_keylost(data / "profiles" / profile) == []
    session.close()
    # The keyring holds the old key again: the next start-up is quiet.
    quiet = open_user_session(user, hub.url, client, data_dir=data)
    assert quiet.notices == [] and quiet.blobs.read_bytes(sent) == SENT
    quiet.close()
