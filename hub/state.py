"""The per-process hub state shared by routes: config, database, blob store."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from fastapi import Request

from hub.blobstore import BlobStore
from hub.config import HubConfig
from hub.db import Database


@dataclass
class HubState:
    config: HubConfig
    db: Database
    blobs: BlobStore
    ready: bool = False


def get_state(request: Request) -> HubState:
    """FastAPI dependency: this process's hub state (``request.app.state.hub``)."""
    return request.app.state.hub


def _trusted(config: HubConfig, address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in _network(n) for n in config.trusted_proxies)


@functools.cache
def _network(spec: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(spec.strip(), strict=False)


def client_ip(request: Request) -> str:
    """The client's address: the TCP peer, or — only when the peer is a configured trusted
    proxy — the nearest untrusted hop of X-Forwarded-For (a client can write anything there;
    only hops our own proxies appended are believed). Throttling and the audit use this."""
    peer = request.client.host if request.client else ""
    config = request.app.state.hub.config
    if not config.trusted_proxies or not _trusted(config, peer):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(config, hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage where our proxy writes the address: believe nothing
    return peer


def is_https(request: Request) -> bool:
    """Whether the client reached us over TLS: directly, or via a trusted proxy saying so."""
    if request.url.scheme in ("https", "wss"):
        return True
    peer = request.client.host if request.client else ""
    config = request.app.state.hub.config
    proto = request.headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
    return proto == "https" and bool(config.trusted_proxies) and _trusted(config, peer)
