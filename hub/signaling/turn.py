"""ICE servers for clients, with short-lived TURN credentials (coturn ``use-auth-secret``).

coturn's REST-API scheme: username = ``<expiry unix time>:<user id>``, password =
base64(HMAC-SHA1(shared secret, username)). coturn recomputes the HMAC with the same
``static-auth-secret`` and refuses the credential after the expiry, so nothing is stored and
a leaked credential dies on its own.

Configured by the hospital through the environment of the hub process:
``YIQIAO_STUN_URLS`` and ``YIQIAO_TURN_URLS`` (comma-separated, e.g.
``turn:turn.example.org:3478?transport=udp``), ``YIQIAO_TURN_SECRET``,
``YIQIAO_TURN_TTL`` (seconds, default 2 h).

TURN credentials are handed out per call (in ``call.incoming`` and ``call.accepted``), not
in the ``hello`` of every signed-in socket, and live ``turn_ttl`` from the call's start:
coturn checks the expiry when the relay is allocated and when it is refreshed, so set it to
the longest call you expect. ``hello`` carries the STUN servers only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field

from app.protocol.signaling import IceServer


@dataclass
class IceConfig:
    """STUN/TURN servers the hub hands out."""

    stun_urls: list[str] = field(default_factory=list)
    turn_urls: list[str] = field(default_factory=list)
    turn_secret: str = ""
    turn_ttl: int = 2 * 3600

    @classmethod
    def from_env(cls) -> IceConfig:
        """Read ``YIQIAO_STUN_URLS``, ``YIQIAO_TURN_URLS``, ``YIQIAO_TURN_SECRET``, ``YIQIAO_TURN_TTL``."""

        def urls(name: str) -> list[str]:
            return [u.strip() for u in os.environ.get(name, "").split(",") if u.strip()]

        ttl = os.environ.get("YIQIAO_TURN_TTL", "")
        return cls(
            urls("YIQIAO_STUN_URLS"),
            urls("YIQIAO_TURN_URLS"),
            os.environ.get("YIQIAO_TURN_SECRET", ""),
            int(ttl) if ttl.isdigit() else 2 * 3600,
        )


def turn_credentials(
    secret: str, user_id: str, ttl: int, now: float | None = None
) -> tuple[str, str]:
    """(username, password) valid for ``ttl`` seconds, as coturn's use-auth-secret expects."""
    expiry = int((time.time() if now is None else now) + ttl)
    username = f"{expiry}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(config: IceConfig, user_id: str) -> list[IceServer]:
    """What a signed-in user's peer connections should use."""
    servers: list[IceServer] = []
    if config.stun_urls:
        servers.append(IceServer(urls=config.stun_urls))
    if config.turn_urls and config.turn_secret:
        username, password = turn_credentials(config.turn_secret, user_id, config.turn_ttl)
        servers.append(IceServer(urls=config.turn_urls, username=username, credential=password))
    return servers


def hello_ice_servers(config: IceConfig) -> list[IceServer]:
    """What every socket hears at once: STUN only (no credential outlives its call)."""
    return [IceServer(urls=config.stun_urls)] if config.stun_urls else []


def call_ice_servers(config: IceConfig, user_id: str) -> list[IceServer]:
    """STUN and TURN for one call of ``user_id``, the TURN credential minted now."""
    return ice_servers_for(config, user_id)
