"""Taking a lifecycle action on a consultation from the client (call on a worker thread).

The same table the hub enforces (:mod:`app.protocol.consultation`) decides; a refusal
raises ``TransitionRefused`` before anything is written.
"""

from __future__ import annotations

from typing import Any

from app.protocol.consultation import (
    Side,
    TransitionRefused,
    allowed_actions,
    apply_action,
    check_change,
    participants_of,
    side_of,
)
from app.protocol.records import normalized
from app.protocol.sync import DocType
from app.sync.store import LocalDoc, RecordStore

__all__ = ["side_for", "actions_for", "take_action", "TransitionRefused"]


def side_for(user: Any, consultation: LocalDoc) -> Side:
    """Which side ``user`` (UserInfo) is on for this consultation. A consultation belongs to
    the requesting clinic (its ``facility_id``; a local draft not yet synced is the
    writer's own)."""
    requesting = str(consultation.facility_id or getattr(user, "facility_id", "") or "")
    return side_of(user, participants_of(consultation.fields, requesting))


def actions_for(user: Any, consultation: LocalDoc) -> list[str]:
    """Action names ``user`` may take now (buttons to show)."""
    return allowed_actions(consultation.fields, side_for(user, consultation))


def take_action(
    store: RecordStore, consultation_id: str, action: str, user: Any, **params: Any
) -> LocalDoc:
    """Apply ``action`` (submit, accept, decline(reason=), propose_time(time=),
    confirm_time, start_call, end_call, report, withdraw(reason=), close, revise,
    assign(specialist_id=, department=)) as ``user`` and queue it for the hub."""
    doc = store.get(consultation_id)
    if doc is None or doc.type != DocType.consultation:
        raise TransitionRefused("invalid", f"no consultation {consultation_id}")
    side = side_for(user, doc)
    new = apply_action(
        doc.fields, action, side, user.id, getattr(user, "display_name", ""), **params
    )
    check_change(
        normalized(DocType.consultation, doc.fields), normalized(DocType.consultation, new), side
    )
    return store.update(consultation_id, new)
