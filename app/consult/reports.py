"""Signing and amending reports on the client (the hub re-checks both)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.protocol.records import amendment, sign_report

__all__ = ["signer_from", "sign", "amend", "sign_report", "amendment"]


def signer_from(user: Any) -> dict[str, str]:
    """The ``signer`` block for a signed-in user (``UserInfo``)."""
    return {
        "id": user.id,
        "name": user.display_name,
        "title": getattr(user, "title", "") or "",
        "facility_id": user.facility_id,
        "facility_name": getattr(user, "facility_name", "") or "",
        "department": getattr(user, "department", "") or "",
    }


def sign(fields: dict[str, Any], user: Any, now: str | None = None) -> dict[str, Any]:
    """``fields`` signed by ``user`` now: write them with ``store.update`` (or ``create``)."""
    at = now or datetime.now(UTC).astimezone().isoformat(timespec="seconds")
    return sign_report(fields, signer_from(user), at)


def amend(signed_fields: dict[str, Any], signed_id: str, reason: str) -> dict[str, Any]:
    """Fields of a new report correcting ``signed_id`` (create it as a new report document in
    the same consultation, edit, then :func:`sign`)."""
    return amendment(signed_fields, signed_id, reason)
