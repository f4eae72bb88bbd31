"""How the hub is exposed: no plain HTTP beyond loopback, TLS served itself when asked (with
HSTS), forwarded protocol believed only from trusted proxies, and slow clients timed out."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.hub.conftest import make_hub
from tests.support.hub_launcher import HubLauncher


def _serve(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub",
            "serve",
            "--data",
            str(tmp_path / "data"),
            "--port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_plain_http_on_a_network_address_is_refused(tmp_path):
    proc = _serve(tmp_path, "--host", "0.0.0.0")
    try:
        _out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 2
    assert "--tls-cert" in err and "--behind-proxy" in err


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "hub.crt", tmp_path / "hub.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_hub_serves_tls_itself_with_hsts(tmp_path):
    cert, key = _self_signed(tmp_path)
    hub = HubLauncher(tmp_path / "data", tls_cert=cert, tls_key=key, ca_cert=cert).start()
    try:
        r = httpx.get(hub.url + "/healthz", verify=str(cert), timeout=10)
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port gets nothing useful
            httpx.get(hub.url.replace("https", "http") + "/healthz", timeout=10).raise_for_status()
    finally:
        hub.stop()


def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = make_hub(tmp_path / "a", "sqlite")
    proxied = make_hub(tmp_path / "b", "sqlite", trusted_proxies=("127.0.0.1",))
    try:
        via_https = {"X-Forwarded-Proto": "https"}
        assert "strict-transport-security" not in httpx.get(plain.url + "/healthz").headers
        r = httpx.get(plain.url + "/healthz", headers=via_https)
        assert "strict-transport-security" not in r.headers, "anyone can send that header"
        r = httpx.get(proxied.url + "/healthz", headers=via_https)
        assert r.headers["strict-transport-security"].startswith("max-age=")
    finally:
        plain.stop()
        proxied.stop()


def test_a_client_trickling_its_headers_is_disconnected(tmp_path):
    hub = make_hub(tmp_path, "sqlite", header_timeout=1.0)
    try:
        u = urlparse(hub.url)
        socks = [socket.create_connection((u.hostname, u.port)) for _ in range(20)]
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
            s.settimeout(0.02)
        closed: set[int] = set()
        deadline = time.monotonic() + 60
        n = 0
        while len(closed) < len(socks):
            assert time.monotonic() < deadline, f"only {len(closed)} of {len(socks)} closed"
            for i, s in enumerate(socks):
                if i in closed:
                    continue
                try:
                    s.sendall(b"X-Slow-%d: 1\r\n" % n)  # one more header line, never the end
                    if s.recv(1) == b"":
                        closed.add(i)
                except TimeoutError:
                    pass
                except OSError:
                    closed.add(i)
            n += 1
            time.sleep(0.05)
        # A well-behaved client is served as ever.
        assert httpx.get(hub.url + "/healthz").status_code == 200
    finally:
        for s in socks:
            s.close()
        hub.stop()
