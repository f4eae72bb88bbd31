"""DICOM TLS (PS3.15 Annex B, the BCP 195 profile DCMTK uses by default): the SSL contexts
our receiver and our PACS connections use.

Receiver: TLS when IT configures a certificate and its private key (PEM files); when a client
CA is configured too, a sender must present a certificate that CA signed (modalities get
certificates from the hospital's CA), else any sender may connect over TLS. PACS: TLS when
``dicom_pacs_tls`` is on, the PACS certificate verified against the policy's CA bundle (or the
CA list shipped with YiQiao, as for the hub: app/tls.py) and its host name checked; our certificate goes along for PACS that require one.

The private key: secrets live only in the OS keyring, so IT deploys the key encrypted (PKCS#8
with a passphrase) and stores the passphrase in the keyring (``main.py dicom tls-passphrase``);
the file on disk is then useless without this computer's keyring. A plain key still works
(deployments keep running) and the self-check reports it. OpenSSL is never left to ask for a
passphrase on a terminal: a missing or wrong one is an error naming the key file.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from app.tls import TlsConfigError as HubTlsConfigError
from app.tls import new_client_context


class TlsConfigError(ValueError):
    """A certificate, key or CA file that cannot be used (named in the message)."""


KEY_PASSPHRASE_SECRET = "dicom-tls-key-passphrase"  # the keyring entry (one per computer)


def key_passphrase() -> str | None:
    """The DICOM TLS key's passphrase from the OS keyring (None when none is stored)."""
    from app import credentials

    return credentials.get_secret(KEY_PASSPHRASE_SECRET)


def key_is_encrypted(key_file: str) -> bool:
    """Whether the PEM private key in ``key_file`` is protected by a passphrase."""
    head = Path(key_file).read_bytes()[:4096]
    return b"ENCRYPTED PRIVATE KEY" in head or b"Proc-Type: 4,ENCRYPTED" in head


class KeyNotEncrypted(TlsConfigError):
    """The private key is a plain file: anyone who copies it has the key."""


def check_encrypted_key(cert_file: str, key_file: str, passphrase: str) -> None:
    """Raise ``KeyNotEncrypted`` for a plain key, ``TlsConfigError`` (or ``OSError``) when
    ``passphrase`` does not open the key or the pair is unusable; return when all is well."""
    if not key_is_encrypted(key_file):
        raise KeyNotEncrypted(f"the private key {key_file!r} is not encrypted")
    server_context(cert_file, key_file, key_passphrase=passphrase)


def _load_key(ctx: ssl.SSLContext, cert_file: str, key_file: str, passphrase: str) -> None:
    cert, key = _require(cert_file, "certificate"), _require(key_file, "private key")

    def password() -> str:
        if not passphrase:
            raise TlsConfigError(
                f"the private key {key_file!r} is encrypted and no passphrase for it is in the "
                "OS keyring (store it with: main.py dicom tls-passphrase)"
            )
        return passphrase

    try:
        ctx.load_cert_chain(cert, key, password=password)
    except ssl.SSLError as exc:
        if passphrase and key_is_encrypted(key):
            raise TlsConfigError(
                f"the passphrase in the OS keyring does not open the private key {key_file!r}"
            ) from exc
        raise TlsConfigError(
            f"the certificate {cert_file!r} and key {key_file!r} cannot be used together: {exc}"
        ) from exc


def _require(path: str, what: str) -> str:
    if not path or not Path(path).is_file():
        raise TlsConfigError(f"the {what} file {path!r} does not exist")
    return path


def _hardened(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # BCP 195
    return ctx


def server_context(
    cert_file: str, key_file: str, client_ca: str = "", key_passphrase: str = ""
) -> ssl.SSLContext:
    """Our receiver's context; with ``client_ca``, senders must show a certificate it signed."""
    ctx = _hardened(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    _load_key(ctx, cert_file, key_file, key_passphrase)
    if client_ca:
        try:
            ctx.load_verify_locations(_require(client_ca, "client CA"))
        except ssl.SSLError as exc:
            raise TlsConfigError(f"the client CA file {client_ca!r} is not usable: {exc}") from exc
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(
    ca_file: str = "", cert_file: str = "", key_file: str = "", key_passphrase: str = ""
) -> ssl.SSLContext:
    """Our context towards the PACS, trusting what hub connections trust (app.tls): only
    ``ca_file`` when set, else the CA list shipped with YiQiao; our own certificate (the
    receiver's) shown when configured, for PACS that require one."""
    try:
        ctx = _hardened(new_client_context(_require(ca_file, "CA") if ca_file else ""))
    except HubTlsConfigError as exc:
        raise TlsConfigError(str(exc)) from exc
    if cert_file or key_file:
        _load_key(ctx, cert_file, key_file, key_passphrase)
    return ctx
