"""What the running client knows: settings, which hub, who is signed in, shared services.

Qt-free so the cores and command-line tools can use it too. Services (sync engine, media
engine, DICOM library) are created lazily by their owners and registered here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import Settings


@dataclass
class AppContext:
    """Shared state for one running client."""

    settings: Settings
    hub_url: str = ""  # effective hub base URL, e.g. http://127.0.0.1:8765 (embedded) or policy
    user: Any = None  # app.protocol.auth.UserInfo once signed in
    demo: bool = False  # running against the embedded demo hub
    # Where this session keeps the cache and blobs: the user data dir, or a throw-away dir
    # when secrets can only live in memory (demo without an OS keyring).
    data_dir: Path | None = None
    ephemeral_secrets: bool = False
    services: dict[str, Any] = field(default_factory=dict)
    _listeners: list[Callable[[str], None]] = field(default_factory=list)

    def user_data_dir(self) -> Path:
        """The data dir for caches of this session (see ``data_dir``)."""
        if self.data_dir is None:
            from app import paths

            self.data_dir = paths.user_data_dir()
        return self.data_dir

    def service(self, name: str, factory: Callable[[], Any]) -> Any:
        """Return the named service, creating it with ``factory`` on first use."""
        if name not in self.services:
            self.services[name] = factory()
        return self.services[name]

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Be told (with a topic such as 'user' or 'hub') when the session changes."""
        self._listeners.append(listener)

    def changed(self, topic: str) -> None:
        """Announce a change to listeners (call on the GUI thread)."""
        for listener in list(self._listeners):
            listener(topic)
