"""Who is who on the DICOM network: our own node and the PACS, from settings or a string."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any


class NodeError(ValueError):
    """A DICOM node description that cannot be used (named in the message)."""


@dataclass(frozen=True)
class Node:
    """A DICOM application entity reachable at host:port."""

    ae_title: str
    host: str
    port: int
    tls: bool = False  # DICOM TLS (see app.dicom_net.tls)
    ca_file: str = ""  # verifies the node's certificate ("" = the system's CAs)
    cert_file: str = ""  # our certificate and key, for nodes that require one
    key_file: str = ""
    key_passphrase: str = field(default="", repr=False)  # from the OS keyring, never stored

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def parse_node(text: str) -> Node:
    """``AE@host:port`` → Node (the format of the ``dicom_pacs`` setting)."""
    ae, at, rest = text.strip().partition("@")
    host, colon, port = rest.rpartition(":")
    if not at or not colon or not ae or not host or not port.isdigit():
        raise NodeError(f"{text!r} is not AE_TITLE@host:port (for example PACS@10.1.2.3:104)")
    if len(ae) > 16:
        raise NodeError(f"AE title {ae!r} is longer than 16 characters")
    number = int(port)
    if not 1 <= number <= 65535:
        raise NodeError(f"port {number} is outside 1–65535")
    return Node(ae, host.strip("[]"), number)


@dataclass(frozen=True)
class LocalNode:
    """Our own Storage SCP: AE title, where it listens, and who may call it."""

    ae_title: str = "YIQIAO"
    port: int = 11112
    bind_address: str = "0.0.0.0"
    allowed_ae_titles: tuple[str, ...] = ()
    allowed_addresses: tuple[str, ...] = ()
    enabled: bool = False
    # C-MOVE destinations (AE title → where it listens); a move to any other AE is refused.
    move_destinations: tuple[Node, ...] = ()
    # DICOM TLS: with a certificate and key the receiver speaks TLS only.
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    tls_key_passphrase: str = field(default="", repr=False)  # from the OS keyring (in memory)

    def move_destination(self, ae_title: str) -> Node | None:
        """The known node a C-MOVE may send to, or None."""
        wanted = ae_title.strip()
        return next((n for n in self.move_destinations if n.ae_title == wanted), None)

    def admits(self, calling_ae: str, address: str) -> bool:
        """True when a caller may associate (empty lists admit everyone on that axis)."""
        if self.allowed_ae_titles and calling_ae.strip() not in self.allowed_ae_titles:
            return False
        return not self.allowed_addresses or address in self.allowed_addresses


def split_callers(value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``dicom_allowed_callers`` setting → (AE titles, IP addresses)."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    titles: list[str] = []
    addresses: list[str] = []
    for raw in items:
        item = str(raw).strip()
        if not item:
            continue
        try:
            addresses.append(str(ipaddress.ip_address(item)))
        except ValueError:
            titles.append(item)
    return tuple(titles), tuple(addresses)


def local_node(settings: Any) -> LocalNode:
    """Our node as the (policy-aware) settings describe it."""
    titles, addresses = split_callers(settings.get("dicom_allowed_callers", ""))
    move_tls = bool(settings.get("dicom_move_tls", False))
    return LocalNode(
        ae_title=str(settings.get("dicom_ae_title", "YIQIAO")),
        port=int(settings.get("dicom_port", 11112)),
        bind_address=str(settings.get("dicom_bind_address", "0.0.0.0") or "0.0.0.0"),
        allowed_ae_titles=titles,
        allowed_addresses=addresses,
        enabled=bool(settings.get("dicom_receive_enabled", False)),
        move_destinations=tuple(
            _tls_files(parse_node(item), settings) if move_tls else parse_node(item)
            for item in str(settings.get("dicom_move_destinations", "") or "").split(",")
            if item.strip()
        ),
        tls_cert=str(settings.get("dicom_tls_cert", "") or ""),
        tls_key=str(settings.get("dicom_tls_key", "") or ""),
        tls_client_ca=str(settings.get("dicom_tls_client_ca", "") or ""),
    )


def pacs_node(settings: Any) -> Node | None:
    """The configured PACS, or None when there is none."""
    value = str(settings.get("dicom_pacs", "") or "")
    if not value:
        return None
    node = parse_node(value)
    return with_tls(node, settings) if settings.get("dicom_pacs_tls", False) else node


def with_tls(node: Node, settings: Any) -> Node:
    """``node`` reached over DICOM TLS: verified with the policy's CA bundle (else the system's),
    showing our certificate when one is configured (its key opened with the passphrase in the
    OS keyring: call this off the GUI thread)."""
    node = _tls_files(node, settings)
    return replace(node, key_passphrase=_passphrase_for(node.key_file))


def _tls_files(node: Node, settings: Any) -> Node:
    return replace(
        node,
        tls=True,
        ca_file=str(settings.get("ca_bundle", "") or ""),
        cert_file=str(settings.get("dicom_tls_cert", "") or ""),
        key_file=str(settings.get("dicom_tls_key", "") or ""),
    )


def with_key_passphrase(node: LocalNode) -> LocalNode:
    """``node`` (and its TLS move destinations) carrying the TLS key's passphrase from the OS
    keyring (a keyring read: call it off the GUI thread, in the process that starts the
    receiver)."""
    passphrase = _passphrase_for(node.tls_key)  # the destinations show the same key
    return replace(
        node,
        tls_key_passphrase=passphrase,
        move_destinations=tuple(
            replace(d, key_passphrase=passphrase) if d.key_file else d
            for d in node.move_destinations
        ),
    )


def _passphrase_for(key_file: str) -> str:
    if not key_file:
        return ""
    from app.dicom_net.tls import key_passphrase

    return key_passphrase() or ""


# ``dicom_query_sides``: which side of a consultation may search and retrieve priors from this
# computer's PACS ("target" is the consulted specialist's side, "requester" the clinic's).
QUERY_SIDES = {"both": ("requester", "target"), "target": ("target",), "requester": ("requester",)}


def may_pull_priors(settings: Any, side: str) -> bool:
    """Whether the case screen offers "pull priors" on ``side``: a PACS (DIMSE or DICOMweb) is
    configured here and IT's ``dicom_query_sides`` lets that side of a consultation query it."""
    if not (settings.get("dicom_pacs", "") or settings.get("dicomweb_url", "")):
        return False
    return side in QUERY_SIDES.get(str(settings.get("dicom_query_sides", "both")), ())
