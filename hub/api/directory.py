"""/api/v1/facilities and /api/v1/users: who is in the network (to pick a specialist)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from app.protocol.auth import FacilityKind, Role, UserInfo
from app.protocol.directory import Department, DirectoryResponse, FacilityEntry, Specialist
from hub import db as t
from hub.api import ERRORS
from hub.api.auth import signed_in
from hub.state import HubState, get_state

router = APIRouter(prefix="/api/v1", tags=["directory"], responses=ERRORS)


class FacilityInfo(BaseModel):
    id: str
    name: str
    kind: FacilityKind


class PersonInfo(BaseModel):
    """A colleague as shown in pickers (no credentials, no patient data)."""

    id: str
    display_name: str
    role: Role
    facility_id: str
    department: str


@router.get("/facilities", response_model=list[FacilityInfo])
def facilities(
    _user: UserInfo = Depends(signed_in), state: HubState = Depends(get_state)
) -> list[FacilityInfo]:
    """Every facility of the network."""
    with state.db.read() as conn:
        rows = conn.execute(sa.select(t.facilities).order_by(t.facilities.c.name)).all()
    return [FacilityInfo(id=r.id, name=r.name, kind=FacilityKind(r.kind)) for r in rows]


@router.get("/users", response_model=list[PersonInfo])
def people(
    role: Role | None = Query(None),
    facility_id: str | None = Query(None, max_length=64),
    _user: UserInfo = Depends(signed_in),
    state: HubState = Depends(get_state),
) -> list[PersonInfo]:
    """Enabled users, optionally filtered (e.g. ``role=specialist`` to pick a consultant)."""
    q = sa.select(t.users).where(t.users.c.disabled == sa.false()).order_by(t.users.c.display_name)
    if role is not None:
        q = q.where(t.users.c.role == role.value)
    if facility_id is not None:
        q = q.where(t.users.c.facility_id == facility_id)
    with state.db.read() as conn:
        rows = conn.execute(q).all()
    return [
        PersonInfo(
            id=r.id,
            display_name=r.display_name,
            role=Role(r.role),
            facility_id=r.facility_id,
            department=r.department,
        )
        for r in rows
    ]


@router.get("/directory", response_model=DirectoryResponse)
def directory(
    _user: UserInfo = Depends(signed_in), state: HubState = Depends(get_state)
) -> DirectoryResponse:
    """Facilities → departments → specialists (with titles): whom a request can go to."""
    with state.db.read() as conn:
        facilities = conn.execute(sa.select(t.facilities).order_by(t.facilities.c.name)).all()
        people = conn.execute(
            sa.select(t.users)
            .where(t.users.c.disabled == sa.false(), t.users.c.role == Role.specialist.value)
            .order_by(t.users.c.department, t.users.c.display_name)
        ).all()
    out = []
    for f in facilities:
        departments: dict[str, Department] = {}
        for p in people:
            if p.facility_id != f.id or not p.department:
                continue
            dept = departments.setdefault(p.department, Department(name=p.department))
            dept.specialists.append(Specialist(id=p.id, display_name=p.display_name, title=p.title))
        out.append(
            FacilityEntry(id=f.id, name=f.name, kind=f.kind, departments=list(departments.values()))
        )
    return DirectoryResponse(facilities=out)
