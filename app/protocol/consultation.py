"""The consultation lifecycle: statuses, actions, who may take each, which fields each side
owns. One table, read by the client (which buttons to show) and enforced by the hub.

Sides (:class:`Side`) of a user towards one consultation:

- ``requester``: a user of the requesting facility (the clinic that holds the patient);
- ``target``: a specialist of the target facility — the assigned one, or one of the named
  department when none is assigned;
- ``coordinator``: a coordinator (or admin) of the target facility;
- ``none``: anybody else (reads nothing, writes nothing).

Actions (:data:`ACTIONS`)::

    draft ──submit──► submitted ──accept──► accepted ──confirm_time──► scheduled ──start_call──► in_call
      ▲                  │                     │ ▲  propose_time            │  ▲                │
      └──revise── declined ◄──decline──┘       │ └───────(both sides)───────┘  └────end_call─────┘
                                        report (target, once a signed report exists) ──► reported ──close──► closed
    submitted/accepted/scheduled ──withdraw (requester)──► withdrawn ──close──► closed
    assign (coordinator): specialist_id / department, status unchanged

A time is agreed in two steps: one side proposes (``proposed_time``, ``proposed_by``), the
other confirms (→ ``scheduled``, ``scheduled_at``) or proposes another time. Every action
appends an entry to ``history`` (who, when, what) — the case screen's timeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class ConsultationStatus(StrEnum):
    """Lifecycle of a consultation request (``fields["status"]`` of a consultation)."""

    draft = "draft"
    submitted = "submitted"
    accepted = "accepted"
    declined = "declined"
    scheduled = "scheduled"
    in_call = "in_call"
    reported = "reported"
    withdrawn = "withdrawn"
    closed = "closed"


class Side(StrEnum):
    requester = "requester"
    target = "target"
    coordinator = "coordinator"
    none = "none"


class ConsultationType(StrEnum):
    """会诊类型 (WS/T 500 DE06.00.319.00)."""

    video = "video"  # 远程会诊 with a call
    imaging = "imaging"  # 远程影像诊断, store-and-forward
    ecg = "ecg"  # 远程心电诊断, store-and-forward


S = ConsultationStatus
R, T, C = Side.requester, Side.target, Side.coordinator


@dataclass(frozen=True)
class Action:
    """One step of the lifecycle."""

    name: str
    sources: frozenset[ConsultationStatus]
    target: ConsultationStatus | None  # None: the status stays as it is
    sides: frozenset[Side]
    requires: tuple[str, ...] = ()  # fields that must be non-empty after the action
    sets: tuple[str, ...] = ()  # fields the action itself may change (beyond owned ones)


def _a(name, sources, target, sides, requires=(), sets=()) -> Action:  # noqa: ANN001
    return Action(name, frozenset(sources), target, frozenset(sides), tuple(requires), tuple(sets))


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        _a(
            "submit",
            [S.draft],
            S.submitted,
            [R],
            ("consultation_type", "target_facility_id", "department", "purpose", "consent"),
        ),
        _a("withdraw", [S.submitted, S.accepted, S.scheduled], S.withdrawn, [R]),
        _a("revise", [S.declined], S.draft, [R]),
        _a("accept", [S.submitted], S.accepted, [T], sets=("accepted_by",)),
        _a("decline", [S.submitted], S.declined, [T], ("decline_reason",)),
        _a(
            "propose_time",
            [S.accepted, S.scheduled],
            S.accepted,
            [R, T],
            ("proposed_time",),
            ("proposed_time", "proposed_by", "scheduled_at"),
        ),
        _a(
            "confirm_time",
            [S.accepted],
            S.scheduled,
            [R, T],
            ("scheduled_at",),
            ("scheduled_at", "proposed_time", "proposed_by"),
        ),
        _a("start_call", [S.accepted, S.scheduled], S.in_call, [R, T]),
        _a("end_call", [S.in_call], S.scheduled, [R, T]),
        _a("report", [S.accepted, S.scheduled, S.in_call], S.reported, [T]),
        _a("close", [S.reported, S.declined, S.withdrawn], S.closed, [R]),
        _a(
            "assign",
            [S.submitted, S.accepted, S.scheduled],
            None,
            [C],
            sets=("specialist_id", "department", "assigned_by"),
        ),
    )
}
"""Every action; the hub refuses a status change that is none of these for the user's side."""

REQUEST_FIELDS = (
    "consultation_type",
    "urgency",
    "requested_time",
    "invited_title",
    "purpose",
    "reason",
    "chief_complaint",
    "present_illness",
    "past_history",
    "medication",
    "allergies",
    "case_summary",
    "vitals",
    "diagnosis_name",
    "diagnosis_code",
    "exam_results",
    "consent",
    "withdraw_reason",
)
"""The request itself: written by the requesting clinic only (while it is not finished)."""

PARTICIPANT_FIELDS = ("target_facility_id", "department", "specialist_id")
"""Who besides the clinic takes part: the clinic sets them while drafting; afterwards only a
coordinator of the target facility changes ``department``/``specialist_id`` (``assign``)."""

TARGET_FIELDS = ("decline_reason", "accepted_by")
"""Fields only the consulting side writes (through its actions)."""

LIFECYCLE_FIELDS = ("status", "history", "proposed_time", "proposed_by", "scheduled_at")
"""Changed only through actions (``apply_action``), never edited directly."""

OPEN_FOR_REQUEST_EDITS = frozenset({S.draft, S.submitted, S.accepted, S.scheduled, S.in_call})
"""The clinic may still add to the request in these states (a new finding, another result)."""


class TransitionRefused(ValueError):
    """A consultation change the lifecycle does not allow to this side.

    ``code``: ``invalid_transition`` (no such step from this status), ``forbidden`` (the step
    exists but belongs to another side or the field is not this side's), ``invalid`` (a
    field the step needs is missing; ``field`` names it)."""

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Participants:
    """The routing facts of a consultation (the hub's ``consultations`` row)."""

    requesting_facility_id: str
    target_facility_id: str = ""
    department: str = ""
    specialist_id: str = ""


@dataclass(frozen=True)
class Actor:
    """The user taking an action (a subset of ``UserInfo``)."""

    id: str
    role: str
    facility_id: str
    department: str = ""
    display_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def side_of(user: Any, p: Participants) -> Side:
    """Which side ``user`` (anything with id, role, facility_id, department) is on."""
    role = str(getattr(user, "role", ""))
    facility = getattr(user, "facility_id", "")
    if facility == p.requesting_facility_id:
        return Side.requester
    if not p.target_facility_id or facility != p.target_facility_id:
        return Side.none
    if role in ("coordinator", "admin"):
        return Side.coordinator
    if role == "specialist":
        if p.specialist_id:
            return Side.target if p.specialist_id == getattr(user, "id", "") else Side.none
        if p.department and p.department == getattr(user, "department", ""):
            return Side.target
    return Side.none


def participants_of(fields: dict[str, Any], requesting_facility_id: str) -> Participants:
    """Routing facts from a consultation's fields (client side)."""
    return Participants(
        requesting_facility_id,
        str(fields.get("target_facility_id") or ""),
        str(fields.get("department") or ""),
        str(fields.get("specialist_id") or ""),
    )


def _status(fields: dict[str, Any] | None) -> ConsultationStatus:
    try:
        return ConsultationStatus((fields or {}).get("status") or "draft")
    except ValueError:
        raise TransitionRefused(
            "invalid", f"unknown consultation status {(fields or {}).get('status')!r}", "status"
        ) from None


def allowed_actions(fields: dict[str, Any], side: Side) -> list[str]:
    """Actions ``side`` may take now (which buttons to show)."""
    status = _status(fields)
    out = []
    for a in ACTIONS.values():
        if status not in a.sources or side not in a.sides:
            continue
        if a.name == "confirm_time":
            proposer = fields.get("proposed_by")
            if not fields.get("proposed_time") or proposer == side.value:
                continue
        if a.name in ("start_call", "end_call") and fields.get("consultation_type", "video") != (
            "video"
        ):
            continue
        out.append(a.name)
    return out


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def _changed(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    keys = set(old) | set(new)
    return {k for k in keys if old.get(k) != new.get(k)}


def infer_action(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """Which action turns ``old`` into ``new`` (None: no lifecycle step, just field edits)."""
    before, after = _status(old), _status(new)
    old = old or {}
    if before == after:
        if before == S.draft:
            return None
        if new.get("proposed_time") != old.get("proposed_time") and new.get("proposed_time"):
            return "propose_time"
        if any(new.get(k) != old.get(k) for k in ("specialist_id", "department")):
            return "assign"
        return None
    candidates = [a for a in ACTIONS.values() if before in a.sources and a.target == after]
    if not candidates:
        raise TransitionRefused(
            "invalid_transition", f"a consultation cannot go from {before} to {after}", "status"
        )
    if after == S.accepted and before == S.scheduled:
        return "propose_time"
    return candidates[0].name


def check_change(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    side: Side,
    *,
    is_new: bool = False,
) -> str | None:
    """Refuse (``TransitionRefused``) a change of a consultation's fields that ``side`` may not
    make; returns the action it amounts to. ``old`` is None for a new consultation."""
    if is_new or old is None:
        if side is not Side.requester:
            raise TransitionRefused(
                "forbidden", "only the clinic that holds the patient opens a consultation"
            )
        status = _status(new)
        if status not in (S.draft, S.submitted):
            raise TransitionRefused(
                "invalid_transition", "a new consultation starts as draft or submitted", "status"
            )
        if status == S.submitted:
            _check_requires(ACTIONS["submit"], new)
        return "submit" if status == S.submitted else None
    if side is Side.none:
        raise TransitionRefused("forbidden", "you do not take part in this consultation")
    action_name = infer_action(old, new)
    before = _status(old)
    changed = _changed(old, new)
    allowed: set[str] = set()
    if action_name is not None:
        action = ACTIONS[action_name]
        if side not in action.sides:
            raise TransitionRefused(
                "forbidden",
                f"'{action_name}' belongs to the {', '.join(sorted(s.value for s in action.sides))} "
                f"side, you are on the {side.value} side",
                "status",
            )
        if before not in action.sources:
            raise TransitionRefused(
                "invalid_transition", f"'{action_name}' is not possible while {before}", "status"
            )
        if action_name == "confirm_time" and old.get("proposed_by") == side.value:
            raise TransitionRefused(
                "forbidden", "the other side confirms the time you proposed", "scheduled_at"
            )
        if action_name == "propose_time" and new.get("proposed_by") != side.value:
            raise TransitionRefused("invalid", "proposed_by must name your side", "proposed_by")
        _check_requires(action, new)
        allowed |= {"status", "history", *action.sets}
    else:
        allowed.add("history")
    if side is Side.requester:
        if before in OPEN_FOR_REQUEST_EDITS or action_name is not None:
            allowed |= set(REQUEST_FIELDS)
        if before == S.draft or (action_name == "revise"):
            allowed |= set(PARTICIPANT_FIELDS)
        allowed |= _unknown_fields(changed)
    elif side is Side.target:
        allowed |= set(TARGET_FIELDS) if action_name in ("accept", "decline") else set()
    bad = sorted(changed - allowed)
    if bad:
        raise TransitionRefused(
            "forbidden",
            f"the {side.value} side may not change {', '.join(bad)}"
            + (f" ({action_name})" if action_name else ""),
            bad[0],
        )
    _check_history(old.get("history"), new.get("history"))
    return action_name


_KNOWN = frozenset(REQUEST_FIELDS + PARTICIPANT_FIELDS + TARGET_FIELDS + LIFECYCLE_FIELDS) | {
    "assigned_by"
}


def _unknown_fields(keys: Iterable[str]) -> set[str]:
    """Fields a newer client added: they belong to the record's owner (the clinic)."""
    return {k for k in keys if k not in _KNOWN}


def _check_requires(action: Action, fields: dict[str, Any]) -> None:
    for key in action.requires:
        if not _filled(fields.get(key)):
            code = "consent_required" if key == "consent" else "required"
            raise TransitionRefused("invalid", f"'{action.name}' needs {key} ({code})", key)
    if action.name == "submit":
        from app.protocol.records import consent_problems

        problems = consent_problems(fields.get("consent"))
        if problems:
            raise TransitionRefused(
                "invalid", f"informed consent incomplete: {problems[0]}", problems[0].field
            )


def _check_history(old: Any, new: Any) -> None:
    old_list = old if isinstance(old, list) else []
    new_list = new if isinstance(new, list) else []
    if new_list[: len(old_list)] != old_list:
        raise TransitionRefused(
            "forbidden", "the timeline only grows: earlier entries cannot change", "history"
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def apply_action(
    fields: dict[str, Any],
    action: str,
    side: Side,
    actor_id: str,
    actor_name: str = "",
    *,
    now: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """The consultation's fields after ``action`` by ``side`` (raises ``TransitionRefused``).

    ``params``: decline → ``reason``; propose_time → ``time`` (ISO date-time); assign →
    ``specialist_id`` and optionally ``department``; withdraw → ``reason``; any → ``note``.
    """
    if action not in ACTIONS:
        raise TransitionRefused("invalid_transition", f"no action {action!r}")
    a = ACTIONS[action]
    if action not in allowed_actions(fields, side):
        raise TransitionRefused(
            "forbidden" if _status(fields) in a.sources else "invalid_transition",
            f"'{action}' is not open to the {side.value} side while {_status(fields)}",
            "status",
        )
    at = now or _now()
    new = dict(fields)
    if a.target is not None:
        new["status"] = a.target.value
    if action == "accept":
        new["accepted_by"] = actor_id
    elif action == "decline":
        new["decline_reason"] = str(params.get("reason", ""))
    elif action == "withdraw":
        new["withdraw_reason"] = str(params.get("reason", ""))
    elif action == "propose_time":
        new["proposed_time"] = str(params["time"])
        new["proposed_by"] = side.value
        new["scheduled_at"] = ""
    elif action == "confirm_time":
        new["scheduled_at"] = new.get("proposed_time", "")
        new["proposed_time"] = ""
        new["proposed_by"] = ""
    elif action == "assign":
        new["specialist_id"] = str(params["specialist_id"])
        if params.get("department"):
            new["department"] = str(params["department"])
        new["assigned_by"] = actor_id
    entry = {"action": action, "by": actor_id, "by_name": actor_name, "side": side.value, "at": at}
    if a.target is not None:
        entry["status"] = a.target.value
    for key in ("reason", "time", "specialist_id", "note"):
        if params.get(key):
            entry[key] = str(params[key])
    new["history"] = [*(fields.get("history") or []), entry]
    return new


def can_transition(old: str, new: str) -> bool:
    """Whether any side may move a consultation from status ``old`` to ``new``."""
    if old == new:
        return True
    try:
        before, after = ConsultationStatus(old), ConsultationStatus(new)
    except ValueError:
        return False
    return any(before in a.sources and a.target == after for a in ACTIONS.values())


CONSULTATION_TRANSITIONS: dict[ConsultationStatus, frozenset[ConsultationStatus]] = {
    s: frozenset(a.target for a in ACTIONS.values() if s in a.sources and a.target not in (None, s))
    for s in ConsultationStatus
}
"""Allowed status changes by any side (derived from :data:`ACTIONS`)."""
