"""/api/v1/auth/* and /api/v1/me."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.protocol.auth import LoginRequest, RefreshRequest, TokenPair, UserInfo
from hub import auth
from hub.api import ERRORS
from hub.state import HubState, client_ip, get_state

router = APIRouter(prefix="/api/v1", tags=["auth"], responses=ERRORS)
bearer_scheme = HTTPBearer(auto_error=False, description="access token from /auth/login")


def signed_in(
    request: Request, _c: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> UserInfo:
    """Dependency: the signed-in user (401 otherwise); declares bearer auth in OpenAPI."""
    return auth.current_user(request)


@router.post("/auth/login", response_model=TokenPair)
def login(body: LoginRequest, request: Request, state: HubState = Depends(get_state)) -> TokenPair:
    """Password sign-in → short-lived access token + refresh token."""
    return auth.login(
        state.db, state.config, body.username, body.password, body.device_name, client_ip(request)
    )


@router.post("/auth/refresh", response_model=TokenPair)
def refresh(
    body: RefreshRequest, request: Request, state: HubState = Depends(get_state)
) -> TokenPair:
    """Exchange a refresh token for new tokens (the old refresh token stops working;
    presenting it again ends the session)."""
    return auth.refresh(state.db, state.config, body.refresh_token, client_ip(request))


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(
    request: Request, user: UserInfo = Depends(signed_in), state: HubState = Depends(get_state)
) -> Response:
    """Revoke this session (access and refresh token)."""
    auth.logout(state.db, auth.bearer_token(request), user, client_ip(request))
    return Response(status_code=204)


@router.get("/me", response_model=UserInfo)
def me(user: UserInfo = Depends(signed_in)) -> UserInfo:
    """Who the access token belongs to."""
    return user
