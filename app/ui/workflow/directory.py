"""The hub's directory (hospitals, their departments and specialists) for the request form,
kept in the local cache so a clinic can draft a request offline. Qt-free; blocking calls
(network, cache): run on a worker."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
STATE_KEY = "directory"


@dataclass
class Directory:
    facilities: list[dict[str, Any]] = field(default_factory=list)  # id, name, kind
    people: list[dict[str, Any]] = field(default_factory=list)  # id, display_name, role, ...

    def facility_name(self, facility_id: str) -> str:
        return next((f["name"] for f in self.facilities if f.get("id") == facility_id), "")

    def person(self, person_id: str) -> dict[str, Any] | None:
        return next((p for p in self.people if p.get("id") == person_id), None)

    def person_name(self, person_id: str) -> str:
        p = self.person(person_id)
        return str(p.get("display_name", "")) if p else ""

    def names(self) -> dict[str, str]:
        return {str(p["id"]): str(p.get("display_name", "")) for p in self.people}

    def consulting_facilities(self, own_facility: str = "") -> list[dict[str, Any]]:
        """Hospitals with at least one specialist (not the clinic itself)."""
        with_specialists = {
            p.get("facility_id") for p in self.people if p.get("role") == "specialist"
        }
        return [
            f
            for f in self.facilities
            if f.get("id") in with_specialists and f.get("id") != own_facility
        ]

    def departments(self, facility_id: str) -> list[str]:
        """Departments of a hospital (those its specialists belong to)."""
        return sorted(
            {
                str(p.get("department") or "")
                for p in self.people
                if p.get("facility_id") == facility_id
                and p.get("role") == "specialist"
                and p.get("department")
            }
        )

    def specialists(self, facility_id: str, department: str = "") -> list[dict[str, Any]]:
        return [
            p
            for p in self.people
            if p.get("facility_id") == facility_id
            and p.get("role") == "specialist"
            and (not department or p.get("department") == department)
        ]


def load_directory(session: Any) -> Directory:
    """Fetch the directory from the hub (and cache it); offline, the cached copy."""
    from app.sync.errors import HubError
    from app.sync.hub_client import API

    cache = session.store.cache
    try:
        client = session.engine.client.clone()
        facilities = client.json_or_raise(client.authed("GET", f"{API}/facilities"))
        people = client.json_or_raise(client.authed("GET", f"{API}/users"))
        if isinstance(facilities, list) and isinstance(people, list):
            cache.set_state(STATE_KEY, json.dumps({"facilities": facilities, "people": people}))
            return Directory(facilities, people)
    except HubError as exc:
        log.info("directory from the cache (hub not reachable: %s)", exc)
    raw = cache.get_state(STATE_KEY, "")
    if raw:
        data = json.loads(raw)
        return Directory(data.get("facilities", []), data.get("people", []))
    return Directory()
