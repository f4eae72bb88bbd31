"""Unsynced work survives the loss of the keyring's keys: the next sign-in with the password
opens the set-aside cache, sends its outbox and blobs to the real hub (nothing twice), and
only then retires the file; a wrong password never opens it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QPushButton

from app import credentials
from app.protocol.sync import DocType
from app.sync.errors import HubError
from app.sync.hub_client import HubClient
from app.sync.keywrap import KdfCost, unwrap_keys, wrap_path
from app.sync.recovery import find_set_aside
from app.sync.session import open_user_session, profile_name
from tests.support.wait import wait_until
from tests.sync.hub_harness import PASSWORD, HubProcess

# The shipped cost is checked in test_keywrap; here a cheap one keeps the walk quick.
CHEAP = KdfCost(memory_kib=8 * 1024, passes=1, lanes=1)
PHOTO = b"\x89PNG fake photo bytes " * 5000  # > one 64 KiB record, several records


def _sign_in(url: str) -> tuple[HubClient, object]:
    client = HubClient(url, timeout=60)
    tokens = client.login("doc1", PASSWORD)
    return client, tokens.user


def _hub_docs(url: str) -> dict[str, object]:
    client, _user = _sign_in(url)
    docs: dict[str, object] = {}
    since = 0
    while True:
        page = client.pull(since)
        docs.update({str(d.id): d for d in page.changes})
        since = page.next_cursor
        if not page.has_more:
            return docs


@pytest.fixture
def own_hub(tmp_path_factory: pytest.TempPathFactory):
    proc = HubProcess(tmp_path_factory.mktemp("recovery-hub")).start()
    yield proc
    proc.stop()


def test_lost_keyring_key_then_sign_in_sends_everything_once(own_hub, tmp_path: Path) -> None:
    data = tmp_path / "data"
    client, user = _sign_in(own_hub.url)
    session = open_user_session(
        user, own_hub.url, client, data_dir=data, password=PASSWORD, kdf_cost=CHEAP
    )
    store, engine = session.store, session.engine
    # Synced earlier: a patient at rev 1.
    patient = store.create(DocType.patient, {"name": "李秀英", "patient_number": "QS-7"}).id
    engine.run_once()
    assert store.outbox_size() == 0
    # Then offline work: an edit, a new consultation, a note, and a photo attachment.
    store.update(patient, {"phone": "13800000000"})
    consult = store.create(
        DocType.consultation, {"status": "draft", "reason": "胸痛"}, patient_id=patient
    ).id
    note = store.create(DocType.note, {"text": "夜间加重"}, patient_id=patient).id
    sha = session.blobs.add_bytes(PHOTO, "image/png")
    photo = store.create(
        DocType.attachment,
        {"kind": "photo", "title": "心电图照片", "blobs": [{"sha256": sha, "size": len(PHOTO)}]},
        patient_id=patient,
    ).id
    # The edit went out but its reply was lost (the link dropped): it is still in the outbox.
    in_flight = store.take_batch(1, lambda _s: False)
    assert [str(c.id) for c in in_flight] == [str(patient)]
    client.push(in_flight)
    owed = store.outbox_size()
    assert owed == 4
    session.close()

    # The keyring loses its keys (Windows profile reset, new keyring).
    profile = profile_name(user.username, own_hub.url)
    credentials.delete_secret(f"cache-key:{profile}")
    credentials.delete_secret(f"blob-key:{profile}")
    folder = data / "profiles" / profile

    # A wrong password never opens the kept file (and the key file refuses it too).
    client, user = _sign_in(own_hub.url)
    wrong = open_user_session(
        user, own_hub.url, client, data_dir=data, password="not-it", kdf_cost=CHEAP
    )
    codes = [n.code for n in wrong.notices]
    assert codes == ["cache_set_aside", "recovery_wrong_password"], codes
    assert wrong.recoveries == []
    wrong.close()
    (kept,) = find_set_aside(folder)
    assert unwrap_keys(wrap_path(kept.db_path), "not-it") is None
    assert kept.db_path.exists() and kept.blobs_dir.exists()

    # The right password while the hub is down: unlocked, but nothing can go yet → kept.
    own_hub.stop()
    client = HubClient(own_hub.url, timeout=60)
    client.tokens = _tokens_kept(user)  # signed in a moment ago
    right = open_user_session(
        user, own_hub.url, client, data_dir=data, password=PASSWORD, kdf_cost=CHEAP
    )
    assert [n.code for n in right.notices] == ["recovering"]
    assert right.notices[0].params == {"docs": owed, "files": 1}
    (recovery,) = right.recoveries
    with pytest.raises(HubError):
        recovery.run_once()
    assert kept.db_path.exists(), "retired before its work reached the hub"
    right.close()
    assert kept.db_path.exists()

    # The hub is back; sign in again: the work goes, then the file is retired.
    own_hub.start()
    client, user = _sign_in(own_hub.url)
    final = open_user_session(
        user, own_hub.url, client, data_dir=data, password=PASSWORD, kdf_cost=CHEAP
    )
    finished = []
    final.start(on_notice=finished.append)
    wait_until(lambda: finished, 60, "the recovery to finish")
    assert finished[0].code == "recovered"
    assert finished[0].params == {"docs": owed, "files": 1, "refused": 0}
    assert not kept.db_path.exists() and not kept.blobs_dir.exists()
    assert (folder / f"cache.db.recovered-{kept.stamp}").exists()
    assert find_set_aside(folder) == []

    hub = _hub_docs(own_hub.url)
    mine = {str(x) for x in (patient, consult, note, photo)}
    assert mine <= set(hub)
    assert hub[str(patient)].rev == 2, "the in-flight edit was applied twice"
    assert hub[str(patient)].fields["phone"] == "13800000000"
    assert hub[str(consult)].fields["reason"] == "胸痛"
    assert hub[str(photo)].fields["blobs"][0]["sha256"] == sha
    status = client.blob_status([sha])
    assert status is not None and status.blobs[0].present
    # And the fresh cache gets it all back from the hub, each once.
    final.engine.sync_now()
    wait_until(lambda: mine <= {str(d.id) for d in final.store.list()}, 60, "the pull")
    assert final.store.count() == len(hub)
    final.close()


def _tokens_kept(user: object):  # noqa: ANN202 - TokenPair
    from app.protocol.auth import TokenPair

    return TokenPair(access_token="x", refresh_token="y", expires_in=60, user=user)


def test_session_without_password_leaves_set_aside_files_alone(hub, tmp_path: Path) -> None:
    data = tmp_path / "data"
    client, user = _sign_in(hub.url)
    first = open_user_session(
        user, hub.url, client, data_dir=data, password=PASSWORD, kdf_cost=CHEAP
    )
    first.store.create(DocType.patient, {"name": str(uuid.uuid4())[:8]})
    first.close()
    profile = profile_name(user.username, hub.url)
    credentials.delete_secret(f"cache-key:{profile}")
    later = open_user_session(user, hub.url, client, data_dir=data)
    assert [n.code for n in later.notices] == ["cache_set_aside"]
    assert later.recoveries == []
    later.close()
    assert len(find_set_aside(data / "profiles" / profile)) == 1


def test_sign_in_hands_the_password_to_the_session_and_banners_are_chinese(
    qtbot, hub, tmp_path: Path
) -> None:
    """Through the real sign-in and wiring: the key file is made at the first sign-in, and
    after the keyring lost its key the banners say what happened, in Chinese."""
    from app.config import load_settings
    from app.context import AppContext
    from app.ui.i18n import install_translators
    from app.ui.login_dialog import sign_in
    from app.ui.main_window import MainWindow, NoticeBanner
    from app.ui.sync.wiring import install_sync
    from tests.foundation.ui_text import untranslated

    install_translators("zh_CN")
    try:
        context = AppContext(settings=load_settings(registry={}))
        context.hub_url = hub.url
        context.data_dir = tmp_path / "data"
        window = MainWindow(context)
        qtbot.addWidget(window)
        install_sync(context, window)

        def sign_in_now() -> object:
            tokens = sign_in(context, "doc1", PASSWORD)
            context.user = tokens.user
            context.changed("user")
            qtbot.waitUntil(lambda: context.services.get("sync") is not None, timeout=60000)
            assert "sign_in_password" not in context.services, "the password lingers"
            return context.services["sync"]

        first = sign_in_now()
        assert wrap_path(first.folder / "cache.db").exists()
        first.engine.stop()
        first.store.create(DocType.patient, {"name": "周建国"})
        context.user = None
        context.changed("user")
        qtbot.waitUntil(lambda: context.services.get("sync") is None, timeout=60000)
        credentials.delete_secret(f"cache-key:{first.profile}")
        credentials.delete_secret(f"blob-key:{first.profile}")

        sign_in_now()
        texts = lambda: [b.label.text() for b in window.findChildren(NoticeBanner)]  # noqa: E731
        qtbot.waitUntil(lambda: any("已全部送达服务器" in t for t in texts()), timeout=60000)
        shown = texts()
        assert any("系统密钥库可能已被重置" in t for t in shown), shown
        assert any("正在发送到服务器" in t for t in shown), shown
        bad = untranslated([("banner", t) for t in shown])
        assert not bad, bad
    finally:
        session = context.services.get("sync")
        if session is not None:
            session.close()
        install_translators("en")


def test_keyring_lost_and_password_changed_the_earlier_password_sends_the_work(
    hub, tmp_path: Path
) -> None:
    """Both ways to the key are gone at sign-in: the keyring lost it and the password was
    changed since the key file was written. The kept file waits (nothing deleted, a wrong
    password changes nothing) until the earlier password is entered; then it all goes."""
    from app.sync.recovery import Notice

    data = tmp_path / "data"
    client, user = _sign_in(hub.url)
    first = open_user_session(
        user, hub.url, client, data_dir=data, password=PASSWORD, kdf_cost=CHEAP
    )
    patient = first.store.create(DocType.patient, {"name": "赵桂兰", "patient_number": "QS-9"}).id
    sha = first.blobs.add_bytes(PHOTO + b"2", "image/png")
    photo = first.store.create(
        DocType.attachment,
        {"kind": "photo", "title": "足部照片", "blobs": [{"sha256": sha, "size": len(PHOTO) + 1}]},
        patient_id=patient,
    ).id
    owed = first.store.outbox_size()
    first.close()
    profile = profile_name(user.username, hub.url)
    credentials.delete_secret(f"cache-key:{profile}")
    credentials.delete_secret(f"blob-key:{profile}")
    folder = data / "profiles" / profile

    # Signed in with the new password: it does not open the key file written under the old.
    client, user = _sign_in(hub.url)
    later = open_user_session(
        user, hub.url, client, data_dir=data, password="the-new-password", kdf_cost=CHEAP
    )
    assert [n.code for n in later.notices] == ["cache_set_aside", "recovery_wrong_password"]
    assert later.needs_earlier_password()
    (kept,) = find_set_aside(folder)
    assert kept.db_path.exists() and kept.blobs_dir.exists() and wrap_path(kept.db_path).exists()

    assert later.unlock_with_earlier_password("not-it-either") == [
        Notice("recovery_wrong_password", {"kept": str(kept.db_path)})
    ]
    assert kept.db_path.exists() and later.recoveries == []

    finished: list[Notice] = []
    notices = later.unlock_with_earlier_password(PASSWORD, on_notice=finished.append)
    assert [(n.code, n.params) for n in notices] == [("recovering", {"docs": owed, "files": 1})]
    wait_until(lambda: finished, 60, "the recovery to finish")
    assert finished[0].code == "recovered" and finished[0].params["refused"] == 0
    assert not later.needs_earlier_password()
    retired = folder / f"cache.db.recovered-{kept.stamp}"
    assert not kept.db_path.exists() and retired.exists()
    # Re-wrapped under today's password when it was opened (a later sign-in would continue).
    assert unwrap_keys(wrap_path(retired), "the-new-password") is not None
    hub_docs = _hub_docs(hub.url)
    assert {str(patient), str(photo)} <= set(hub_docs)
    assert hub_docs[str(patient)].fields["name"] == "赵桂兰"
    status = client.blob_status([sha])
    assert status is not None and status.blobs[0].present
    later.close()


def test_earlier_password_from_the_banner_in_chinese(qtbot, hub, tmp_path: Path) -> None:
    """Through the real sign-in, wiring, banner and dialog in zh_CN: the key file was written
    under an earlier password and the keyring lost the keys; the banner explains and offers
    the earlier password; a wrong one says so and changes nothing; the right one sends."""
    from app.config import load_settings
    from app.context import AppContext
    from app.ui.i18n import install_translators
    from app.ui.login_dialog import sign_in
    from app.ui.main_window import MainWindow, NoticeBanner
    from app.ui.sync.earlier_password_dialog import EarlierPasswordDialog
    from app.ui.sync.wiring import install_sync
    from tests.foundation.ui_text import untranslated
    from tests.workflow.shots import shot

    data = tmp_path / "data"
    client, user = _sign_in(hub.url)
    old = open_user_session(
        user, hub.url, client, data_dir=data, password="the-old-password", kdf_cost=CHEAP
    )
    old.store.create(DocType.patient, {"name": "孙玉兰", "patient_number": "QS-12"})
    old.close()
    credentials.delete_secret(f"cache-key:{old.profile}")
    credentials.delete_secret(f"blob-key:{old.profile}")

    install_translators("zh_CN")
    try:
        context = AppContext(settings=load_settings(registry={}))
        context.hub_url = hub.url
        context.data_dir = data
        window = MainWindow(context)
        qtbot.addWidget(window)
        window.resize(1100, 700)
        window.show()
        install_sync(context, window)
        tokens = sign_in(context, "doc1", PASSWORD)
        context.user = tokens.user
        context.changed("user")
        qtbot.waitUntil(lambda: context.services.get("sync") is not None, timeout=60000)

        def banners() -> list[NoticeBanner]:
            return [b for b in window.findChildren(NoticeBanner) if b.isVisible()]

        def offer() -> list[NoticeBanner]:
            return [b for b in banners() if "以前的密码" in b.label.text()]

        qtbot.waitUntil(lambda: bool(offer()), timeout=60000)  # banners show on the next turn
        shot(window, "earlier-password-banner-zh_CN.png", tmp_path)
        button = next(
            w for w in offer()[0].findChildren(QPushButton) if w.text() == "输入以前的密码…"
        )
        button.click()
        dialog = window.findChild(EarlierPasswordDialog)
        assert dialog is not None and dialog.isVisible()
        dialog.password.setText("not-the-old-one")
        dialog.unlock_button.click()
        qtbot.waitUntil(lambda: dialog.problem.isVisible(), timeout=60000)
        assert "打不开" in dialog.problem.text()
        shot(dialog, "earlier-password-dialog-zh_CN.png", tmp_path)
        texts = [("dialog", w.text()) for w in dialog.findChildren(QLabel) if w.text()]
        texts += [("banner", b.label.text()) for b in banners()]
        assert not untranslated(texts), untranslated(texts)

        dialog.password.setText("the-old-password")
        dialog.unlock_button.click()
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=60000)
        qtbot.waitUntil(
            lambda: any("已全部送达服务器" in b.label.text() for b in banners()), timeout=60000
        )
        assert not any("以前的密码" in b.label.text() for b in banners())
        assert "孙玉兰" in {d.fields.get("name") for d in _hub_docs(hub.url).values()}
    finally:
        session = context.services.get("sync")
        if session is not None:
            session.close()
        install_translators("en")
