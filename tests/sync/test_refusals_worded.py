"""The real hub's refusals reach a Chinese user as Chinese sentences (not the hub's English)."""

from __future__ import annotations

import pytest

from app.config import load_settings
from app.context import AppContext
from app.sync.errors import LoginRefused
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
