"""What the running client knows: settings, which hub, who is signed in, shared services.

Qt-free so the cores and command-line tools can use it too. Services (sync session, calls,
DICOM network) are created lazily by their owners and registered in ``services``, one typed
key each (the widget-side types are named for the type checker only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from app.config import Settings
from app.protocol.auth import UserInfo

if TYPE_CHECKING:
    from app.credentials import OneTimeSecret
    from app.sync.hub_client import HubClient
    from app.sync.link import HubLink
    from app.sync.session import SyncSession
    from app.ui.call.service import CallService
    from app.ui.dicom_net.service import DicomNetService
    from app.ui.workflow.notifier import Notifier


class Services(TypedDict, total=False):
    """The session's shared services, each present once its owner created it."""

    hub_link: HubLink  # reachability of the hub, fed by every request
    hub_client: HubClient  # signed in
    sign_in_password: OneTimeSecret  # handed from sign-in to the sync session, then gone
    sync: SyncSession
    calls: CallService
    notifier: Notifier
    dicom_net: DicomNetService


@dataclass
class AppContext:
    """Shared state for one running client."""

    settings: Settings
    hub_url: str = ""  # effective hub base URL, e.g. http://127.0.0.1:8765 (embedded) or policy
    user: UserInfo | None = None  # once signed in
    demo: bool = False  # running against the embedded demo hub
    # Where this session keeps the cache and blobs: the user data dir, or a throw-away dir
    # when secrets can only live in memory (demo without an OS keyring).
    data_dir: Path | None = None
    ephemeral_secrets: bool = False
    services: Services = field(default_factory=lambda: Services())
    _listeners: list[Callable[[str], None]] = field(default_factory=list)

    def user_data_dir(self) -> Path:
        """The data dir for caches of this session (see ``data_dir``)."""
        if self.data_dir is None:
            from app import paths

            self.data_dir = paths.user_data_dir()
        return self.data_dir

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Be told (with a topic such as 'user' or 'hub') when the session changes."""
        self._listeners.append(listener)

    def changed(self, topic: str) -> None:
        """Announce a change to listeners (call on the GUI thread)."""
        for listener in list(self._listeners):
            listener(topic)
