"""DICOM TLS (PS3.15 Annex B, the BCP 195 profile DCMTK uses by default): the SSL contexts
our receiver and our PACS connections use.

Receiver: TLS when IT configures a certificate and its private key (PEM files); when a client
CA is configured too, a sender must present a certificate that CA signed (modalities get
certificates from the hospital's CA), else any sender may connect over TLS. PACS: TLS when
``dicom_pacs_tls`` is on, the PACS certificate verified against the policy's CA bundle (or the
CA list shipped with YiQiao, as for the hub: app/tls.py) and its host name checked; our certificate goes along for PACS that require one.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from app.tls import TlsConfigError as HubTlsConfigError
from app.tls import new_client_context


class TlsConfigError(ValueError):
    """A certificate, key or CA file that cannot be used (named in the message)."""


def _require(path: str, what: str) -> str:
    if not path or not Path(path).is_file():
        raise TlsConfigError(f"the {what} file {path!r} does not exist")
    return path


def _hardened(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # BCP 195
    return ctx


def server_context(cert_file: str, key_file: str, client_ca: str = "") -> ssl.SSLContext:
    """Our receiver's context; with ``client_ca``, senders must show a certificate it signed."""
    ctx = _hardened(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    try:
        ctx.load_cert_chain(_require(cert_file, "certificate"), _require(key_file, "private key"))
    except ssl.SSLError as exc:
        raise TlsConfigError(
            f"the certificate {cert_file!r} and key {key_file!r} cannot be used together: {exc}"
        ) from exc
    if client_ca:
        try:
            ctx.load_verify_locations(_require(client_ca, "client CA"))
        except ssl.SSLError as exc:
            raise TlsConfigError(f"the client CA file {client_ca!r} is not usable: {exc}") from exc
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(ca_file: str = "", cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """Our context towards the PACS, trusting what hub connections trust (app.tls): only
    ``ca_file`` when set, else the CA list shipped with YiQiao; our own certificate (the
    receiver's) shown when configured, for PACS that require one."""
    try:
        ctx = _hardened(new_client_context(_require(ca_file, "CA") if ca_file else ""))
    except HubTlsConfigError as exc:
        raise TlsConfigError(str(exc)) from exc
    try:
        if cert_file or key_file:
            ctx.load_cert_chain(
                _require(cert_file, "certificate"), _require(key_file, "private key")
            )
    except ssl.SSLError as exc:
        raise TlsConfigError(f"the TLS files are not usable: {exc}") from exc
    return ctx
