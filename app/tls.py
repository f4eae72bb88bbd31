"""The one TLS trust every client connection uses: hub HTTP (sync, tus uploads, downloads),
the signaling and sync-hint WebSockets, DICOMweb and the self-check.

The policy's ``ca_bundle`` (the hospital's CA file) is the only trust anchor when set; without
it the public CA list shipped with YiQiao (certifi) is, as docs/deployment.md says — the
Windows certificate store is not consulted, so every machine trusts the same. Certificates and host names are always verified: nothing here
can turn verification off, and for ``requests`` the environment (``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``) and a per-request ``verify=`` no longer change whom we trust, so a call
and a sync to the same hub are verified the same way.
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH as SHIPPED_CAS  # certifi's list


class TlsConfigError(ValueError):
    """The configured CA file cannot be used (missing, unreadable, not PEM)."""


_CACHE: dict[tuple[str, int, int], ssl.SSLContext] = {}
_LOCK = threading.Lock()


def client_ssl_context(ca_bundle: str = "") -> ssl.SSLContext:
    """A verifying client context trusting only ``ca_bundle`` (or certifi's list if "").

    One context per file version is shared: contexts are safe to use from several threads
    and building one parses a whole CA file."""
    key = ("", 0, 0)
    if ca_bundle:
        try:
            st = os.stat(ca_bundle)
        except OSError as exc:
            raise TlsConfigError(
                f"the CA certificate file {ca_bundle} cannot be read: {exc}"
            ) from exc
        key = (ca_bundle, st.st_mtime_ns, st.st_size)
    with _LOCK:
        context = _CACHE.get(key)
        if context is None:
            context = _CACHE[key] = new_client_context(ca_bundle)
    return context


def new_client_context(ca_bundle: str = "") -> ssl.SSLContext:
    """A fresh verifying context with the same trust as :func:`client_ssl_context`, for a
    caller that adds to it (a client certificate) and so must not share it."""
    try:
        context = ssl.create_default_context(cafile=ca_bundle or SHIPPED_CAS)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TlsConfigError(
            f"the CA certificate file {ca_bundle} is not a usable PEM file: {exc}"
        ) from exc
    if ca_bundle and not context.get_ca_certs():
        raise TlsConfigError(f"the CA certificate file {ca_bundle} holds no certificate")
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    return context


class TrustAdapter(HTTPAdapter):
    """A ``requests`` adapter whose every HTTPS connection uses ``context``."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self.context = context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self.context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self.context
        return super().proxy_manager_for(proxy, **kwargs)

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> Any:
        # Whatever ``verify`` says (False, an environment bundle): verified, with our context.
        host, pool = super().build_connection_pool_key_attributes(request, True, cert)
        pool["ssl_context"] = self.context
        pool["cert_reqs"] = "CERT_REQUIRED"
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # Not requests' version: it would load certifi or the environment's bundle into our
        # shared context, trusting more than the policy says.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


def trusting_session(
    ca_bundle: str = "", session: requests.Session | None = None
) -> requests.Session:
    """``session`` (or a new one) with every https:// request verified by our one context."""
    session = session if session is not None else requests.Session()
    session.mount("https://", TrustAdapter(client_ssl_context(ca_bundle)))
    session.verify = True
    return session
