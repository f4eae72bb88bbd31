"""The real hub's refusals reach a Chinese user as Chinese sentences (not the hub's English)."""

from __future__ import annotations

import pytest

from app.config import load_settings
from app.context import AppContext
from app.sync.errors import HubError, LoginRefused
from app.sync.hub_client import HubClient
from app.ui.i18n import install_translators
from tests.foundation.ui_text import untranslated


@pytest.fixture
def chinese(qapp):
    yield install_translators("zh_CN")
    install_translators("en")


def test_wrong_password_reads_fully_chinese(chinese, qtbot, hub) -> None:
    from app.ui.login_dialog import LoginDialog

    with pytest.raises(LoginRefused) as refused:
        HubClient(hub.url).login("doc1", "not-the-password")
    assert refused.value.code == "invalid_credentials"
    dialog = LoginDialog(AppContext(settings=load_settings(registry={})))
    qtbot.addWidget(dialog)
    text = dialog.describe_error(refused.value)
    assert text == "服务器拒绝登录：用户名或密码错误。"
    assert not untranslated([("login", text)])


def test_unknown_account_and_bad_token_read_chinese(chinese, hub) -> None:
    from app.ui.wording import hub_error_text

    with pytest.raises(LoginRefused) as unknown:
        HubClient(hub.url).login("nobody-here", "whatever")
    with pytest.raises(LoginRefused) as stale:
        HubClient(hub.url).refresh("not-a-refresh-token")
    for exc in (unknown.value, stale.value):
        assert exc.code, exc
        text = hub_error_text(exc)
        assert not untranslated([(exc.code, text)]), text


def _refusal(client: HubClient, path: str, body: str, authed: bool = False) -> HubError:
    """Send a raw JSON text (what a buggy or older client might send) and return the refusal."""
    send = client.authed if authed else client.request
    response = send("POST", path, data=body.encode(), headers={"Content-Type": "application/json"})
    with pytest.raises(HubError) as refused:
        client.json_or_raise(response)
    return refused.value


def test_malformed_requests_are_worded_per_field_in_chinese(chinese, hub) -> None:
    import json

    from app.ui.wording import error_text
    from tests.sync.hub_harness import PASSWORD

    anonymous = HubClient(hub.url)
    signed_in = HubClient(hub.url)
    signed_in.login("doc1", PASSWORD)
    change = {"change_id": "not-a-uuid", "type": "patient"}
    cases = [
        # (refusal, field the hub names, code, the Chinese the user reads)
        (
            _refusal(anonymous, "/api/v1/auth/login", json.dumps({"username": "", "password": "x"})),
            "username", "required", "请填写用户名",
        ),
        (
            _refusal(anonymous, "/api/v1/auth/login", json.dumps({"username": "u" * 200})),
            "username", "too_long", "用户名最多 128 个字符",
        ),
        (
            _refusal(anonymous, "/api/v1/auth/login", json.dumps({"username": "doc1"})),
            "password", "required", "请填写密码",
        ),
        (
            _refusal(signed_in, "/api/v1/sync/push",
                     json.dumps({"changes": [{**change, "fields": {"name": "王\u0000五"}}]}),
                     authed=True),
            "changes.0.fields.name", "bad_text", "姓名含有无法保存的字符",
        ),
        (
            _refusal(signed_in, "/api/v1/sync/push",
                     '{"changes": [{"fields": {"bp_systolic": NaN}}]}', authed=True),
            "changes.0.fields.bp_systolic", "not_finite", "收缩压",
        ),
        (
            _refusal(signed_in, "/api/v1/sync/push", json.dumps({"changes": [change]}),
                     authed=True),
            "changes.0.change_id", "invalid", "本记录无效",
        ),
    ]  # fmt: skip
    for exc, field, code, words in cases:
        assert exc.status == 422, exc
        assert (exc.problems[0].field, exc.problems[0].code) == (field, code), exc.problems
        text = error_text(exc)
        assert words in text, text
        assert not untranslated([(f"{field} {code}", text)]), text


def test_sign_in_fields_checked_before_sending_are_worded(chinese, qtbot) -> None:
    from pydantic import ValidationError

    from app.ui.login_dialog import LoginDialog

    with pytest.raises(ValidationError) as too_long:
        HubClient("http://127.0.0.1:9").login("u" * 200, "secret")  # never reaches the network
    dialog = LoginDialog(AppContext(settings=load_settings(registry={})))
    qtbot.addWidget(dialog)
    text = dialog.describe_error(too_long.value)
    assert "用户名最多 128 个字符" in text, text
    assert not untranslated([("login", text)]), text
