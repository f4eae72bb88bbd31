"""Authentication messages (``/api/v1/auth/*``), shared by hub and client."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from app.protocol.problems import FieldProblem


class Role(StrEnum):
    """What a user may do; one role per user."""

    clinic_doctor = "clinic_doctor"
    specialist = "specialist"
    coordinator = "coordinator"
    admin = "admin"


class FacilityKind(StrEnum):
    """The tier of a facility in the referral network."""

    township_clinic = "township_clinic"
    county_hospital = "county_hospital"
    provincial_center = "provincial_center"


class LoginRequest(BaseModel):
    """POST /api/v1/auth/login."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)
    device_name: str = Field(default="", max_length=128)


class UserInfo(BaseModel):
    """Who is signed in (shown in the status bar and used for access decisions)."""

    id: str
    username: str
    display_name: str
    role: Role
    facility_id: str
    facility_name: str
    department: str = ""
    title: str = Field(default="", description="professional title (职称), e.g. 主任医师")


class TokenPair(BaseModel):
    """Returned by login and refresh. Tokens go to the OS keyring, never to a file."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    user: UserInfo


class RefreshRequest(BaseModel):
    """POST /api/v1/auth/refresh."""

    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=4096)


class ErrorBody(BaseModel):
    """Every 4xx/5xx from the hub: a machine code and a sentence naming the problem."""

    error: str = Field(description="stable machine-readable code, e.g. 'invalid_credentials'")
    message: str = Field(description="what was wrong, for people")
    detail: list[dict] | None = None
    problems: list[FieldProblem] | None = Field(
        default=None,
        description="for 422: each field that is wrong (dotted path inside the body), a stable "
        "code and its parameters (app.protocol.problems); the client words them",
    )
