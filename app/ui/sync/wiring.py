"""Create the user's sync session when someone signs in, close it on sign-out.

Call ``install_sync(context, window)`` once after the main window exists. On ``changed("user")``
the session is opened on a worker thread (keyring + disk), registered as
``context.services["sync"]`` and its engine started; the status widget goes into the window's
status bar via ``window.set_sync_widget``. Pages listen for ``changed("sync")``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication

from app.context import AppContext
from app.ui.bridge import call_on_gui, run_in_worker, run_network
from app.ui.wording import notice_text, session_failure_text

log = logging.getLogger(__name__)


def sync_session(context: AppContext) -> Any:
    """The signed-in user's ``SyncSession`` or None."""
    return context.services.get("sync")


def install_sync(context: AppContext, window: Any = None) -> None:
    """Follow sign-in / sign-out with a sync session (see module docstring)."""
    from app.ui.sync.status_widget import SyncStatusWidget

    widget = SyncStatusWidget()
    if window is not None and hasattr(window, "set_sync_widget"):
        window.set_sync_widget(widget)

    def opened(session: Any) -> None:
        if context.user is None or context.user.id != session.store.user_id:
            session.close()  # signed out meanwhile
            return
        context.services["sync"] = session
        widget.set_engine(session.engine)
        session.store.on_change(lambda ids: call_on_gui(context.changed, "records"))
        session.start(on_notice=lambda notice: call_on_gui(show, notice))
        for notice in session.notices:
            show(notice)
        context.changed("sync")

    def show(notice: Any) -> None:
        if window is None or not hasattr(window, "show_notice"):
            return
        banner = window.show_notice(notice_text(notice))
        session = sync_session(context)
        if (
            getattr(notice, "code", "") in EARLIER_PASSWORD_HELPS
            and session is not None
            and session.needs_earlier_password()
        ):
            banner.add_action(
                QCoreApplication.translate("SyncWiring", "Enter earlier password…"),
                lambda: ask_earlier_password(session, window, show, banner),
            )

    def failed(exc: BaseException) -> None:
        log.error("could not open the local records: %s", exc)
        if window is not None and hasattr(window, "show_notice"):
            window.show_notice(session_failure_text(exc))

    def on_change(topic: str) -> None:
        if topic != "user":
            return
        old = context.services.pop("sync", None)
        if old is not None:
            widget.set_engine(None)
            run_network(old.close)
            context.changed("sync")
        if context.user is None:
            return
        client = context.services.get("hub_client")
        if client is None:
            return
        user = context.user
        budget = int(context.settings.get("blob_cache_budget_mb", 2048))
        handoff = context.services.pop("sign_in_password", None)
        run_in_worker(
            _open,
            user,
            context.hub_url,
            client,
            budget,
            context.user_data_dir(),
            handoff.take() if handoff is not None else None,
            on_done=opened,
            on_error=failed,
        )

    context.on_change(on_change)


EARLIER_PASSWORD_HELPS = ("recovery_wrong_password", "blob_key_lost")
"""Notices after which kept work may open with a password used before a change."""


def ask_earlier_password(
    session: Any, window: Any, show: Callable[[Any], None], banner: Any = None
) -> Any:
    """Open the earlier-password dialog for ``session``; what it opens is announced with
    ``show`` (and the banner that offered it goes away). Returns the dialog (shown)."""
    from app.ui.sync.earlier_password_dialog import EarlierPasswordDialog

    kept = [str(i.db_path) for i in session.locked_away()]
    from app.sync.blob_keycheck import find_keylost

    kept += [str(p) for p in find_keylost(session.folder)]

    def opened(notices: list[Any]) -> None:
        if banner is not None:
            banner.hide()
        for notice in notices:
            show(notice)

    def unlock(password: str) -> list[Any]:
        return session.unlock_with_earlier_password(
            password, on_notice=lambda n: call_on_gui(show, n)
        )

    dialog = EarlierPasswordDialog(kept, unlock, opened, window)
    dialog.open()
    return dialog


def _open(
    user: Any, hub_url: str, client: Any, budget: int, data_dir: Any, password: str | None
) -> Any:
    from app import credentials
    from app.sync.session import open_user_session
    from app.ui.login_dialog import token_key

    def keep_tokens(tokens: Any) -> None:
        # Same entry the login dialog writes, so a refreshed token survives a restart.
        credentials.set_secret(token_key(user.username, hub_url), tokens.refresh_token)

    return open_user_session(
        user,
        hub_url,
        client,
        budget,
        on_tokens=keep_tokens,
        data_dir=data_dir,
        password=password,
    )
