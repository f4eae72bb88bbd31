"""HTTP client for the hub API (blocking ``requests``; call it from a worker thread).

Honours the system proxy or an explicit one, verifies TLS against the policy's CA bundle,
and turns every failure into one of the typed errors in ``app.sync.errors``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import requests
from pydantic import BaseModel, ValidationError

from app.protocol import PROTOCOL_VERSION
from app.protocol.auth import LoginRequest, RefreshRequest, TokenPair
from app.protocol.directory import DirectoryResponse
from app.protocol.problems import Problem
from app.protocol.sync import (
    PROTOCOL_HEADER,
    BlobStatusRequest,
    BlobStatusResponse,
    Change,
    PullResponse,
    PushRequest,
    PushResponse,
    ReconcileRequest,
    ReconcileResponse,
)
from app.sync.errors import (
    BatchTooLarge,
    HubBadReply,
    HubError,
    HubOffline,
    HubServerError,
    LoginRefused,
    TlsUntrusted,
)
from app.tls import TlsConfigError, TrustAdapter, client_ssl_context

API = "/api/v1"
_REFRESH_LOCK = threading.Lock()


class HubClient:
    """A session with one hub; holds the current tokens in memory only."""

    def __init__(
        self,
        base_url: str,
        ca_bundle: str = "",
        proxy: str = "system",
        timeout: float = 20.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # One TLS trust for all our connections (app/tls.py): the policy's hospital CA, else
        # the shipped public CAs; the signaling WebSockets use this same ``ssl_context``.
        try:
            self.ssl_context = client_ssl_context(ca_bundle)
        except TlsConfigError as exc:
            raise TlsUntrusted(str(exc)) from exc
        self.ca_bundle = ca_bundle
        self.session = requests.Session()
        self.session.mount("https://", TrustAdapter(self.ssl_context))
        if proxy == "none":
            self.session.trust_env = False
            self.session.proxies = {}
        elif proxy not in ("", "system"):
            self.session.trust_env = False
            self.session.proxies = {"http": proxy, "https": proxy}
        # "system": requests reads HTTP(S)_PROXY / NO_PROXY and, on Windows, the registry.
        self.tokens: TokenPair | None = None
        # the client whose tokens a clone shares (refreshes go through it)
        self._parent: HubClient | None = None
        # When the access token is due for renewal (clock() time; None: unknown, e.g. tokens
        # restored from the keyring — then only a 401 renews them).
        self.clock = time.monotonic
        self._renew_at: float | None = None
        self.session.headers[PROTOCOL_HEADER] = str(PROTOCOL_VERSION)
        # Told about every new token pair (the engine stores them in the keyring).
        self.on_tokens: Any = None
        # Told whether each request reached the hub (``HubLink.report``): the status bar
        # learns of a lost hub from the first failed request, not from the next poll.
        self.on_link: Any = None

    # -- low level ---------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request; raise a typed ``HubError`` for anything but a 2xx/3xx/4xx reply."""
        headers = kwargs.pop("headers", {}) or {}
        if self.tokens is not None and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.tokens.access_token}"
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.base_url + path, headers=headers, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise TlsUntrusted(f"the hub's certificate is not trusted: {exc}") from exc
        except requests.exceptions.ProxyError as exc:
            self._link(False)
            raise HubOffline(f"the proxy could not reach the hub: {exc}") from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            self._link(False)
            raise HubOffline(f"cannot reach the hub at {self.base_url}: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise HubBadReply(f"the hub's reply was broken: {exc}") from exc
        self._link(response.status_code not in (502, 503, 504))  # a proxy's "hub is gone"
        if response.status_code >= 500:
            raise HubServerError(
                f"the hub had a server error ({response.status_code}): {_message(response)}",
                _code(response),
                response.status_code,
            )
        return response

    def _link(self, reached: bool) -> None:
        if self.on_link is not None:
            try:
                self.on_link(reached)
            except Exception:  # noqa: BLE001 - a status listener must not break a request
                logging.getLogger(__name__).exception("link listener failed")

    def json_or_raise(self, response: requests.Response) -> Any:
        """Decode a JSON reply; 401/403 → LoginRefused, other 4xx → HubError with the message."""
        if (
            response.status_code in (401, 403)
            and response.request.url
            and "/auth/" in str(response.request.url)
        ):
            raise LoginRefused(_message(response), _code(response), response.status_code)
        if response.status_code == 401:
            raise LoginRefused(_message(response), _code(response), response.status_code)
        if response.status_code >= 400:
            raise HubError(
                f"{response.status_code}: {_message(response)}",
                _code(response),
                response.status_code,
                _problems(response),
            )
        try:
            return response.json()
        except (ValueError, json.JSONDecodeError) as exc:
            raise HubBadReply(f"the hub did not send valid JSON: {exc}") from exc

    # -- auth --------------------------------------------------------------------------
    def login(self, username: str, password: str, device_name: str = "") -> TokenPair:
        """Sign in; the caller stores the tokens in the keyring."""
        body = LoginRequest(username=username, password=password, device_name=device_name)
        response = self.request("POST", f"{API}/auth/login", json=body.model_dump())
        pair = _parse_tokens(self.json_or_raise(response))
        self._set_tokens(pair)
        return pair

    def _set_tokens(self, pair: TokenPair) -> None:
        # Renew a little before the hub's deadline: a request sent with an expired token and
        # a large body (a push batch, a tus chunk) is answered 401 unread and its connection
        # closed, which the client may only see as a reset (HubOffline), never as the 401.
        self.tokens = pair
        self._renew_at = self.clock() + max(0.0, pair.expires_in - max(30.0, pair.expires_in / 10))

    def refresh(self, refresh_token: str | None = None) -> TokenPair:
        """Exchange the refresh token for a fresh pair."""
        token = refresh_token or (self.tokens.refresh_token if self.tokens else "")
        if not token:
            raise LoginRefused("not signed in", "not_authenticated")
        body = RefreshRequest(refresh_token=token)
        response = self.request(
            "POST", f"{API}/auth/refresh", json=body.model_dump(), headers={"Authorization": ""}
        )
        pair = _parse_tokens(self.json_or_raise(response))
        self._set_tokens(pair)
        if self.on_tokens is not None:
            self.on_tokens(pair)
        return pair

    def logout(self) -> None:
        """Revoke the session on the hub (best effort) and forget the tokens."""
        if self.tokens is None:
            return
        try:
            self.request(
                "POST",
                f"{API}/auth/logout",
                json={"refresh_token": self.tokens.refresh_token},
            )
        except HubError:
            pass
        self.tokens = None

    # -- sync ----------------------------------------------------------------------------
    def clone(self) -> HubClient:
        """Another connection to the same hub sharing this client's login (for parallel
        transfers: a ``requests.Session`` must not be shared between threads)."""
        twin = HubClient(self.base_url, ca_bundle=self.ca_bundle, timeout=self.timeout)
        twin.session.trust_env = self.session.trust_env
        twin.session.proxies = dict(self.session.proxies)
        twin.tokens = self.tokens
        twin.on_link = self.on_link
        twin._parent = self
        return twin

    def _refresh_shared(self, used: str) -> None:
        root = getattr(self, "_parent", None) or self
        with _REFRESH_LOCK:
            # Another thread may have refreshed already: refresh tokens rotate, so only one may.
            if root.tokens is not None and root.tokens.access_token == used:
                root.refresh()
        self.tokens = root.tokens

    def renewal_due(self) -> bool:
        """The access token is about to expire (by the lifetime the hub gave with it)."""
        root = self._parent or self
        return root._renew_at is not None and root.clock() >= root._renew_at

    def authed(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request with the access token: renewed first when it is about to expire, and
        once more (then retried) if the hub still says it has expired."""
        if self.tokens is not None and self.renewal_due():
            self._refresh_shared(self.tokens.access_token)
        used = self.tokens.access_token if self.tokens else ""
        response = self.request(method, path, **kwargs)
        if response.status_code == 401 and self.tokens is not None:
            self._refresh_shared(used)
            response = self.request(method, path, **kwargs)
        if response.status_code == 401:
            raise LoginRefused(
                _message(response) or "the hub no longer accepts this login",
                _code(response) or "invalid_token",
                401,
            )
        return response

    def _post_model(self, path: str, model: BaseModel, timeout: Any = None) -> requests.Response:
        """An authenticated POST of ``model`` as JSON (pydantic's encoder: UUIDs, dates)."""
        return self.authed(
            "POST",
            path,
            data=model.model_dump_json().encode(),
            headers={"Content-Type": "application/json"},
            timeout=timeout or self.timeout,
        )

    def push(self, changes: list[Change], timeout: Any = None) -> PushResponse:
        """POST /sync/push; ``BatchTooLarge`` on 413 (halve and retry)."""
        response = self._post_model(f"{API}/sync/push", PushRequest(changes=changes), timeout)
        if response.status_code == 413:
            raise BatchTooLarge(_message(response), _code(response) or "batch_too_large", 413)
        reply = _parse(PushResponse, self.json_or_raise(response))
        if [str(r.change_id) for r in reply.results] != [str(c.change_id) for c in changes]:
            raise HubBadReply("the hub's push reply does not answer the changes sent")
        return reply

    def pull(self, since: int, limit: int = 500, timeout: Any = None) -> PullResponse:
        """GET /sync/pull from ``since``."""
        response = self.authed(
            "GET",
            f"{API}/sync/pull",
            params={"since": since, "limit": limit},
            timeout=timeout or self.timeout,
        )
        return _parse(PullResponse, self.json_or_raise(response))

    def reconcile(self, digest: str, count: int) -> ReconcileResponse:
        """POST /sync/reconcile with the local digest."""
        body = ReconcileRequest(digest=digest, count=count).model_dump()
        response = self.authed("POST", f"{API}/sync/reconcile", json=body)
        return _parse(ReconcileResponse, self.json_or_raise(response))

    def blob_status(self, shas: list[str], timeout: Any = None) -> BlobStatusResponse | None:
        """POST /blobs/status: which blobs the hub holds and how far our unfinished uploads
        of the others got. ``None`` when the hub does not offer it (ask blob by blob)."""
        response = self._post_model(f"{API}/blobs/status", BlobStatusRequest(sha256=shas), timeout)
        if response.status_code in (404, 405):
            return None
        reply = _parse(BlobStatusResponse, self.json_or_raise(response))
        if [b.sha256 for b in reply.blobs] != shas:
            raise HubBadReply("the hub's blob status reply does not answer the blobs asked about")
        return reply

    def tus_extensions(self, timeout: Any = None) -> set[str] | None:
        """The hub's tus extensions (``OPTIONS /blobs/uploads``), e.g. creation-with-upload;
        None when it could not say this time (a server error: ask again later)."""
        try:
            response = self.request(
                "OPTIONS", f"{API}/blobs/uploads", timeout=timeout or self.timeout
            )
        except HubServerError:
            return None
        if response.status_code not in (200, 204):
            return set()
        value = response.headers.get("Tus-Extension", "")
        return {part.strip() for part in value.split(",") if part.strip()}

    def display_names(self) -> dict[str, str]:
        """User id → display name of the network's people (``GET /users``), to show who wrote
        what instead of ids."""
        data = self.json_or_raise(self.authed("GET", f"{API}/users"))
        if not isinstance(data, list):
            raise HubBadReply("the hub's user list is not a list")
        return {
            str(p["id"]): str(p["display_name"])
            for p in data
            if isinstance(p, dict) and p.get("id") and p.get("display_name")
        }

    def directory(self) -> DirectoryResponse:
        """Facilities → departments → specialists (``GET /directory``)."""
        return _parse(DirectoryResponse, self.json_or_raise(self.authed("GET", f"{API}/directory")))

    def health(self) -> bool:
        """True when the hub answers /readyz."""
        return self.request("GET", "/readyz").status_code == 200


def _parse_tokens(data: Any) -> TokenPair:
    try:
        return TokenPair.model_validate(data)
    except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError, named in the message
        raise HubBadReply(f"the hub's login reply has the wrong shape: {exc}") from exc


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HubBadReply(f"the hub's reply has the wrong shape ({model.__name__}): {exc}") from exc


def _code(response: requests.Response) -> str:
    """The hub's machine-readable reason (``ErrorBody.error``), or "" when it sent none."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"][:64]
    return ""


def _problems(response: requests.Response) -> list[Problem]:
    """The hub's per-field problems of a refusal (``ErrorBody.problems``); malformed ones are
    left out (a garbage reply must not raise here)."""
    try:
        data = response.json()
    except ValueError:
        return []
    raw = data.get("problems") if isinstance(data, dict) else None
    out = []
    for item in raw[:50] if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        code, field, params = item.get("code"), item.get("field"), item.get("params")
        if isinstance(code, str):
            out.append(
                Problem(
                    field[:200] if isinstance(field, str) else "",
                    code[:64],
                    params if isinstance(params, dict) else {},
                )
            )
    return out


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
        if isinstance(data, dict) and "message" in data:
            return str(data["message"])
    except ValueError:
        pass
    return (response.text or response.reason or "").strip()[:300]
