"""Notifications derived from synced records, so they arrive after a spell offline too.

Nothing is sent as a message: every notification follows from what the records say — each
entry of a consultation's timeline (``history``) written by the other side, a signed report,
a scheduled call about to start. :func:`derive` lists what the records imply for a user;
:class:`NotificationTracker` remembers which were shown (in the cache) and returns the new
ones after each sync. Qt-free: the UI words them (``kind`` + ``params``) and shows them in
the app and the system tray.

Kinds: ``submit`` (a new request in my worklist), ``accept``, ``decline`` (params: reason),
``propose_time`` (time), ``confirm_time`` (time), ``withdraw`` (reason), ``assign``,
``start_call``, ``report`` (consultation reported), ``report_signed`` (a report or amendment
was signed), ``call_soon`` (time; a scheduled call starts within :data:`CALL_SOON`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.protocol.consultation import Side, participants_of, side_of
from app.protocol.sync import DocType

CALL_SOON = timedelta(minutes=15)
SEEN_KEY = "notifications_seen"
MAX_SEEN = 5000
_QUIET = frozenset({"end_call", "close", "revise"})  # steps nobody needs to be told about


@dataclass(frozen=True)
class Notification:
    key: str  # stable: the same event always has the same key
    kind: str
    consultation_id: str
    patient_id: str | None
    at: str  # ISO time of the event
    by_name: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def _parse(ts: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def derive(docs: Iterable[Any], me: Any, now: datetime | None = None) -> list[Notification]:
    """Every notification the records imply for ``me`` (LocalDocs of consultations and
    reports; any order). Oldest first."""
    now = now or datetime.now(UTC)
    docs = list(docs)
    consultations = {d.id: d for d in docs if d.type == DocType.consultation and not d.deleted}
    out: list[Notification] = []
    for c in consultations.values():
        side = side_of(me, participants_of(c.fields, c.facility_id or ""))
        if side is Side.none:
            continue
        for i, entry in enumerate(c.fields.get("history") or []):
            action = str(entry.get("action", ""))
            if action in _QUIET or entry.get("by") == me.id or entry.get("side") == side.value:
                continue
            if side is Side.requester and action == "submit":
                continue
            params = {k: entry[k] for k in ("reason", "time", "specialist_id") if entry.get(k)}
            if action == "confirm_time" and c.fields.get("scheduled_at"):
                params.setdefault("time", c.fields["scheduled_at"])
            out.append(
                Notification(
                    f"{c.id}:h{i}",
                    action,
                    c.id,
                    c.patient_id,
                    str(entry.get("at", "")),
                    str(entry.get("by_name", "")),
                    params,
                )
            )
        when = _parse(str(c.fields.get("scheduled_at") or ""))
        if c.fields.get("status") == "scheduled" and when and now <= when <= now + CALL_SOON:
            out.append(
                Notification(
                    f"{c.id}:soon:{c.fields['scheduled_at']}",
                    "call_soon",
                    c.id,
                    c.patient_id,
                    now.isoformat(timespec="seconds"),
                    params={"time": c.fields["scheduled_at"]},
                )
            )
    for r in docs:
        if r.type != DocType.report or r.deleted or not r.fields.get("signed"):
            continue
        c = consultations.get(r.consultation_id or "")
        signer = r.fields.get("signer") or {}
        if c is None or signer.get("id") == me.id:
            continue
        if side_of(me, participants_of(c.fields, c.facility_id or "")) is not Side.requester:
            continue
        out.append(
            Notification(
                f"{r.id}:signed",
                "report_signed",
                c.id,
                c.patient_id,
                str(r.fields.get("signed_at", "")),
                str(signer.get("name", "")),
                {"version": r.fields.get("version", 1), "amends": r.fields.get("amends", "")},
            )
        )
    out.sort(key=lambda n: n.at)
    return out


class NotificationTracker:
    """Which notifications were shown, kept in the user's cache (survives restarts)."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def _seen(self) -> list[str] | None:
        raw = self.cache.get_state(SEEN_KEY)
        if raw is None:
            return None
        try:
            return list(json.loads(raw))
        except ValueError:
            return []

    def new(self, store: Any, me: Any, now: datetime | None = None) -> list[Notification]:
        """Notifications not shown before (each once), and mark them shown. The first call on
        a fresh profile only takes note of what exists (a first sync is not news)."""
        docs = store.list(DocType.consultation) + store.list(DocType.report)
        current = derive(docs, me, now)
        seen = self._seen()
        fresh = [] if seen is None else [n for n in current if n.key not in set(seen)]
        if seen is None:
            fresh = [n for n in current if n.kind == "call_soon"]
        keys = (seen or []) + [n.key for n in current if n.key not in set(seen or [])]
        self.cache.set_state(SEEN_KEY, json.dumps(keys[-MAX_SEEN:]))
        return fresh
