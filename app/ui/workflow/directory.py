"""The hub's directory (hospitals → departments → specialists) as the request form and the
worklist use it: a thin view over :mod:`app.consult.directory`, which keeps a copy in the
local cache so a clinic can draft a request offline. Qt-free."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from app.protocol.directory import DirectoryResponse

log = logging.getLogger(__name__)


@dataclass
class Directory:
    response: DirectoryResponse = field(default_factory=lambda: DirectoryResponse(facilities=[]))

    def facility_name(self, facility_id: str) -> str:
        f = self.response.facility(facility_id) if facility_id else None
        return f.name if f is not None else ""

    def person_name(self, person_id: str) -> str:
        found = self.response.person(person_id) if person_id else None
        return found[2].display_name if found is not None else ""

    def consulting_facilities(self, own_facility: str = "") -> list[dict[str, Any]]:
        """Hospitals with at least one department of specialists (not the clinic itself)."""
        return [
            {"id": f.id, "name": f.name}
            for f in self.response.facilities
            if f.departments and f.id != own_facility
        ]

    def departments(self, facility_id: str) -> list[str]:
        f = self.response.facility(facility_id)
        return sorted(d.name for d in f.departments) if f is not None else []

    def specialists(self, facility_id: str, department: str = "") -> list[dict[str, Any]]:
        f = self.response.facility(facility_id)
        if f is None:
            return []
        return [
            {"id": s.id, "display_name": s.display_name, "title": s.title, "department": d.name}
            for d in f.departments
            if not department or d.name == department
            for s in d.specialists
        ]


def load_directory(session: Any) -> Directory:
    """The directory from the hub (kept in the cache); offline, the cached copy. Blocking."""
    from app.consult import directory
    from app.sync.errors import HubError

    cache = session.store.cache
    try:
        return Directory(directory.refresh(session.engine.client.clone(), cache))
    except HubError as exc:
        log.info("directory from the cache (hub not reachable: %s)", exc)
        return Directory(directory.load(cache))
