"""The worklist: consultations with their patient, who has them, how long they have waited,
and which actions the signed-in user may take — filtered and sorted. Qt-free.

Actions come from the shared lifecycle table (``app.protocol.consultation``): the same table
the hub enforces, so a button shown here is a step the hub accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.protocol.consultation import Side, allowed_actions, participants_of, side_of
from app.ui.workflow.chart_model import parse_time

URGENCY_RANK = {"emergency": 0, "urgent": 1, "routine": 2}
# Finished cases sink to the bottom of "waiting" sorts.
OPEN_STATUSES = ("submitted", "accepted", "scheduled", "in_call")


@dataclass
class Row:
    """One consultation as the worklist shows it."""

    id: str
    fields: dict[str, Any]
    patient: dict[str, Any] | None
    side: Side
    requesting_facility_id: str
    actions: list[str]
    submitted_at: datetime | None
    sync_state: str = "synced"

    @property
    def status(self) -> str:
        return str(self.fields.get("status", "draft"))

    @property
    def urgency(self) -> str:
        return str(self.fields.get("urgency", "routine"))

    @property
    def kind(self) -> str:
        return str(self.fields.get("consultation_type", "video"))

    def waiting_s(self, now: datetime) -> float:
        """Seconds since submission (0 for drafts)."""
        if self.submitted_at is None:
            return 0.0
        return max(0.0, (now - self.submitted_at).total_seconds())


def submitted_at(fields: dict[str, Any]) -> datetime | None:
    """When the request was (last) submitted, from its timeline."""
    for entry in reversed(fields.get("history") or []):
        if isinstance(entry, dict) and entry.get("action") == "submit":
            at = parse_time(entry.get("at"))
            if at is not None:
                return at
    return None


@dataclass
class Filters:
    statuses: set[str] = field(default_factory=set)  # empty: all
    urgencies: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    facility_id: str = ""  # requesting facility
    mine_only: bool = True  # only cases where I am a participant (not "none")
    show_closed: bool = False


SORTS = ("urgency", "waiting", "status", "facility", "type")


class WorklistModel:
    """Rows for one user; ``visible()`` applies filters and the sort."""

    def __init__(self, user: Any, now: Callable[[], datetime] | None = None) -> None:
        self.user = user
        self.now = now or (lambda: datetime.now(UTC).replace(tzinfo=None))
        self.rows: list[Row] = []
        self.filters = Filters()
        self.sort = "urgency"
        self.descending = False

    def load(
        self,
        consultations: Iterable[Any],
        patients: dict[str, dict[str, Any]],
        sync_states: dict[str, str] | None = None,
        own_facility: str = "",
    ) -> None:
        """Rebuild from local documents (``LocalDoc``-like: id, fields, facility_id,
        patient_id)."""
        rows = []
        for doc in consultations:
            requesting = str(doc.facility_id or own_facility or "")
            side = side_of(self.user, participants_of(doc.fields, requesting))
            rows.append(
                Row(
                    id=str(doc.id),
                    fields=doc.fields,
                    patient=patients.get(str(doc.patient_id)),
                    side=side,
                    requesting_facility_id=requesting,
                    actions=allowed_actions(doc.fields, side) if side is not Side.none else [],
                    submitted_at=submitted_at(doc.fields),
                    sync_state=(sync_states or {}).get(str(doc.id), "synced"),
                )
            )
        self.rows = rows

    def row(self, consultation_id: str) -> Row | None:
        return next((r for r in self.rows if r.id == consultation_id), None)

    def visible(self) -> list[Row]:
        f = self.filters
        out = []
        for r in self.rows:
            if f.mine_only and r.side is Side.none:
                continue
            if not f.show_closed and r.status in ("closed", "withdrawn") and not f.statuses:
                continue
            if f.statuses and r.status not in f.statuses:
                continue
            if f.urgencies and r.urgency not in f.urgencies:
                continue
            if f.kinds and r.kind not in f.kinds:
                continue
            if f.facility_id and r.requesting_facility_id != f.facility_id:
                continue
            out.append(r)
        now = self.now()
        keys: dict[str, Callable[[Row], Any]] = {
            "urgency": lambda r: (
                r.status not in OPEN_STATUSES,
                URGENCY_RANK.get(r.urgency, 3),
                -r.waiting_s(now),
            ),
            "waiting": lambda r: (r.status not in OPEN_STATUSES, -r.waiting_s(now)),
            "status": lambda r: (
                (OPEN_STATUSES + ("draft",)).index(r.status)
                if r.status in OPEN_STATUSES + ("draft",)
                else 9
            ),
            "facility": lambda r: r.requesting_facility_id,
            "type": lambda r: r.kind,
        }
        out.sort(key=keys.get(self.sort, keys["urgency"]), reverse=self.descending)
        return out

    def facilities(self) -> list[str]:
        """Requesting facilities present (for the facility filter)."""
        return sorted({r.requesting_facility_id for r in self.rows if r.requesting_facility_id})
