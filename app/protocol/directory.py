"""The network directory (``GET /api/v1/directory``): facilities → departments → specialists.

A clinic picks the target of a request from it (hospital, then department, then optionally a
named specialist with their title), and keeps a copy so requests can be drafted offline.
Departments are those that have at least one enabled specialist.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Specialist(BaseModel):
    id: str
    display_name: str
    title: str = Field(default="", description="professional title (职称)")


class Department(BaseModel):
    name: str
    specialists: list[Specialist] = Field(default_factory=list)


class FacilityEntry(BaseModel):
    id: str
    name: str
    kind: str
    departments: list[Department] = Field(default_factory=list)


class DirectoryResponse(BaseModel):
    facilities: list[FacilityEntry]

    def facility(self, facility_id: str) -> FacilityEntry | None:
        return next((f for f in self.facilities if f.id == facility_id), None)

    def person(self, user_id: str) -> tuple[FacilityEntry, Department, Specialist] | None:
        """Where a specialist works (facility, department) and who they are."""
        for f in self.facilities:
            for d in f.departments:
                for s in d.specialists:
                    if s.id == user_id:
                        return f, d, s
        return None
