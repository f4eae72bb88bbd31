"""What the record pages share: show their body once a sync session exists, refresh on change."""

from __future__ import annotations

from typing import Any

from app.ui.sync.wiring import sync_session


class FollowsSyncSession:
    """Mixin for pages with ``self.context``, ``self.stack`` (0: empty state, 1: body) and
    ``refresh()``; call ``follow_sync_session()`` at the end of ``__init__``."""

    context: Any
    stack: Any

    def follow_sync_session(self) -> None:
        """Track sign-in, sync and record changes from now on."""
        self.context.on_change(self._on_context)
        self._on_context("sync")

    def _session(self) -> Any:
        return sync_session(self.context)

    def _on_context(self, topic: str) -> None:
        if topic not in ("sync", "records", "user"):
            return
        session = self._session()
        self.stack.setCurrentIndex(1 if session is not None else 0)
        if session is not None:
            self.refresh()

    def refresh(self) -> None:  # pragma: no cover - each page provides its own
        raise NotImplementedError
