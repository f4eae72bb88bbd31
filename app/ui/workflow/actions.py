"""Taking a lifecycle action on a consultation from this client (blocking: call on a worker).

The step is checked against the shared table before anything is written (so a refusal is
immediate, offline too); the hub checks it again when the change arrives.
"""

from __future__ import annotations

from typing import Any

from app.protocol.consultation import (
    Side,
    TransitionRefused,
    apply_action,
    participants_of,
    side_of,
)


def my_side(store: Any, doc: Any, user: Any) -> Side:
    """The signed-in user's side towards a consultation."""
    requesting = str(doc.facility_id or store.facility_id or "")
    return side_of(user, participants_of(doc.fields, requesting))


def take_action(store: Any, consultation_id: str, action: str, user: Any, **params: Any) -> Any:
    """Apply ``action`` (submit, accept, decline, propose_time, …) and save it locally."""
    doc = store.get(consultation_id)
    if doc is None:
        raise TransitionRefused("invalid", "no such consultation")
    side = my_side(store, doc, user)
    new = apply_action(
        doc.fields,
        action,
        side,
        str(getattr(user, "id", "")),
        str(getattr(user, "display_name", "")),
        **params,
    )
    changes = {k: v for k, v in new.items() if doc.fields.get(k) != v}
    return store.update(consultation_id, changes)
