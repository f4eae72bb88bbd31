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


def _stalled_request(hub, head: bytes, first_bytes: bytes) -> bytes:  # noqa: ANN001
    """Send the head and part of the body, then nothing: what the hub answers (or b"")."""
    u = urlparse(hub.url)
    with socket.create_connection((u.hostname, u.port)) as s:
        s.sendall(head + first_bytes)
        s.settimeout(60)  # bounds a hang only; the hub answers after its own idle limit
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply


def test_a_body_that_stalls_is_answered_408_and_the_hub_serves_on(tmp_path):
    from tests.hub.conftest import seed_network

    hub = make_hub(tmp_path, "sqlite", body_idle_timeout=0.5)
    try:
        seed_network(hub)
        token = hub.tokens["doc_a"].encode()
        # a JSON push whose body stops after 10 of its 1,000 bytes
        head = (
            b"POST /api/v1/sync/push HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token + b"\r\nX-YiQiao-Protocol: 1\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        reply = _stalled_request(hub, head, b'{"changes"')
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        # a tus PATCH that stops mid-chunk is ended after the idle limit too
        client = hub.client("doc_a")
        created = client.post(
            "/api/v1/blobs/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1000"}
        )
        assert created.status_code == 201, created.text
        path = urlparse(created.headers["Location"]).path.encode()
        head = (
            b"PATCH " + path + b" HTTP/1.1\r\nHost: hub\r\nTus-Resumable: 1.0.0\r\n"
            b"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            b"Authorization: Bearer " + token + b"\r\nContent-Length: 1000\r\n\r\n"
        )
        reply = _stalled_request(hub, head, b"x" * 100)
        # unchecksummed: what arrived before the stall is kept, and the client resumes from it
        assert reply.startswith(b"HTTP/1.1 204"), reply[:200]
        offset = client.head(path.decode(), headers={"Tus-Resumable": "1.0.0"})
        assert offset.status_code == 200
        assert offset.headers["Upload-Offset"] == "100"
        assert httpx.get(hub.url + "/healthz").status_code == 200
    finally:
        hub.stop()
