"""A province hub on loopback: PostgreSQL, three ``python -m hub serve`` processes on one
database and one blob folder (each a tests.support.hub_launcher.HubLauncher), Debian's nginx
in front with TLS (deploy/nginx/yiqiao-hub.conf, a self-signed certificate made here).

Skipped with the reason printed where PostgreSQL (``YIQIAO_TEST_PG_DSN``), nginx or openssl
is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.hub.conftest import fresh_pg_url, pg_skip_reason
from tests.support.hub_launcher import HubLauncher
from tests.support.wait import wait_until  # noqa: F401 - the cluster tests import it from here

ROOT = Path(__file__).resolve().parents[2]
SITE_CONF = ROOT / "deploy" / "nginx" / "yiqiao-hub.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
# Short timers so a killed process is noticed in seconds (not so short that a process
# stalled by a busy CI machine is taken for dead).
FAST_TIMERS = {
    "YIQIAO_SIGNAL_HEARTBEAT": "1",
    "YIQIAO_SIGNAL_DEAD_AFTER": "10",
    "YIQIAO_SIGNAL_TICK": "0.2",
    "YIQIAO_SESSION_CHECK": "0.5",
    "YIQIAO_UPLOAD_LEASE": "3",  # a crashed process's upload lease lapses in 3 s
}
HUB_READY_S = 180  # generous: three hubs importing at once on a busy 2-core machine


def cluster_skip_reason() -> str | None:
    reason = pg_skip_reason()
    if reason:
        return reason
    if not NGINX:
        return "cluster tests skipped: nginx is not installed (apt-get install nginx; .ci/run does)"
    if not shutil.which("openssl"):
        return "cluster tests skipped: openssl is not installed"
    return None


@dataclass
class Cluster:
    url: str  # https://127.0.0.1:<nginx port>
    db_url: str
    data: Path
    ca_file: Path
    access_log: Path
    procs: list[HubLauncher] = field(default_factory=list)
    engine: sa.Engine | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def http(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, verify=self.ssl_context, headers=headers, timeout=30)

    def token(self, username: str) -> str:
        from hub.demo import DEMO_PASSWORD

        with self.http() as c:
            r = c.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
        r.raise_for_status()
        return r.json()["access_token"]

    def user_id(self, username: str) -> str:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT id FROM users WHERE username = :u"), {"u": username}
            ).scalar_one()

    def process_of(self, username: str) -> list[int]:
        """OS pids of the hub processes holding ``username``'s signaling sockets."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT p.pid FROM sig_connections c JOIN sig_processes p "
                        "ON p.id = c.process_id JOIN users u ON u.id = c.user_id "
                        "WHERE u.username = :u ORDER BY c.connected_at"
                    ),
                    {"u": username},
                ).scalars()
            )

    def socket(self, username: str, token: str | None = None) -> SignalingSocket:
        """A raw signaling WebSocket through nginx, hello already read."""
        from websockets.exceptions import InvalidMessage
        from websockets.sync.client import connect

        bearer = token or self.token(username)
        for attempt in range(3):
            try:
                ws = connect(
                    self.url.replace("https://", "wss://") + "/api/v1/ws",
                    ssl=self.ssl_context,
                    additional_headers={"Authorization": f"Bearer {bearer}"},
                    open_timeout=30,  # a loaded CI machine can take 10 s for a TLS handshake
                )
                break
            except InvalidMessage as exc:
                # The connection closed before any HTTP answer (seen once in CI with the box
                # at load ~7, nothing in nginx's or the hubs' logs): the app's signaling
                # client reconnects in that case, so this socket does too. A refusal with
                # an HTTP status is InvalidStatus and still fails at once.
                if attempt == 2:
                    raise
                print(f"signaling socket for {username}: {exc}; connecting again", flush=True)
        sock = SignalingSocket(ws)
        sock.hello = sock.expect(__import__("app.protocol.signaling").protocol.signaling.Hello, 30)
        return sock

    def proc_by_pid(self, pid: int) -> HubLauncher:
        return next(p for p in self.procs if p.proc is not None and p.proc.pid == pid)

    def revive(self) -> None:
        """Restart killed hub processes on their old ports (nginx's upstream list stays)."""
        restarted = [p.spawn() for p in self.procs if not p.alive]
        for p in restarted:
            p.wait_ready(HUB_READY_S)

    def kill(self, hub: HubLauncher) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash."""
        hub.kill()

    def upstreams(self, method: str, path_prefix: str) -> list[str]:
        """The hub ports nginx sent matching requests to (from its access log)."""
        out = []
        for line in self.access_log.read_text().splitlines():
            if f'"{method} {path_prefix}' in line:
                m = re.search(r"upstream=(\S+)", line)
                if m:
                    out.append(m.group(1).split(",")[-1].strip())
        return out


class SignalingSocket:
    """A synchronous signaling client for protocol-level checks."""

    def __init__(self, ws) -> None:  # noqa: ANN001
        self.ws = ws
        self.hello = None

    def send(self, message) -> None:  # noqa: ANN001
        self.ws.send(message.model_dump_json())

    def expect(self, kind: type, timeout: float = 10.0):  # noqa: ANN201
        """The next frame of type ``kind`` (others are skipped); fails after ``timeout``."""
        from app.protocol import signaling as sig

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind.__name__} frame within {timeout:.0f} s")
            message = sig.parse_server_message(self.ws.recv(timeout=left))
            if isinstance(message, kind):
                return message

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> SignalingSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "hub.crt", tmp / "hub.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_site(ports: list[int], listen_port: int, cert: Path, key: Path, logs: Path) -> str:
    """deploy/nginx/yiqiao-hub.conf with this test's addresses; everything else verbatim."""
    text = SITE_CONF.read_text()
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in ports)
    text, n = re.subn(
        r"(?m)^    server 127\.0\.0\.1:\d+ .*;\n(?:    server 127.*\n)*", servers + "\n", text
    )
    assert n == 1, "upstream block not found in the shipped nginx config"
    text = re.sub(r"(?m)^\s*listen \[::\]:\d+.*\n", "", text)
    text = re.sub(r"listen 80;", f"listen 127.0.0.1:{_free_port()};", text)
    text = re.sub(r"listen 443 ssl http2;", f"listen 127.0.0.1:{listen_port} ssl http2;", text)
    text = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", text)
    text = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", text)
    text = re.sub(r"access_log \S+ ", f"access_log {logs / 'access.log'} ", text)
    text = re.sub(r"error_log  \S+ ", f"error_log {logs / 'error.log'} ", text)
    return text


def start_nginx(tmp: Path, site: str) -> subprocess.Popen:
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / d).mkdir(exist_ok=True)
    (tmp / "site.conf").write_text(site)
    user = "user root root;\n" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/main-error.log;\n"
        "daemon off;\nevents { worker_connections 4096; }\nhttp {\n"
        "  include /etc/nginx/mime.types;\n"
        f"  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n"
        f"  fastcgi_temp_path {tmp}/fastcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n"
        f"  scgi_temp_path {tmp}/scgi;\n  access_log off;\n"
        f"  include {tmp}/site.conf;\n}}\n"
    )
    check = subprocess.run(
        [NGINX, "-t", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], capture_output=True, text=True
    )
    assert check.returncode == 0, f"nginx -t refused the shipped config:\n{check.stderr}"
    return subprocess.Popen(
        [NGINX, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "nginx.stderr", "wb"),  # noqa: SIM115
    )


def hub_process(data: Path, db_url: str, index: int, env: dict[str, str]) -> HubLauncher:
    """Hub process ``index`` of a cluster over ``data`` and ``db_url`` (not started)."""
    return HubLauncher(
        data,
        "--db",
        db_url,
        "--host",
        "127.0.0.1",
        log_level="warning",
        name=f"hub{index}",
        env=env,
    )


def start_cluster(tmp: Path, n: int = 3, extra_env: dict[str, str] | None = None) -> Cluster:
    db_url = fresh_pg_url()
    data = tmp / "data"
    data.mkdir()
    env = {**os.environ, **FAST_TIMERS, **(extra_env or {})}
    env.pop("YIQIAO_TEST_PG_DSN", None)
    subprocess.run(
        [sys.executable, "-m", "hub", "demo", "--data", str(data), "--db", db_url],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    cert, key = _self_signed(tmp)
    logs = tmp / "logs"
    logs.mkdir()
    listen = _free_port()
    cluster = Cluster(
        url=f"https://127.0.0.1:{listen}",
        db_url=db_url,
        data=data,
        ca_file=cert,
        access_log=logs / "access.log",
        engine=sa.create_engine(db_url),
        env=env,
    )
    try:
        cluster.procs = [hub_process(data, db_url, i, env).spawn() for i in range(n)]
        for p in cluster.procs:
            p.wait_ready(HUB_READY_S)
        site = render_site([p.port for p in cluster.procs], listen, cert, key, logs)
        nginx_dir = tmp / "nginx"
        nginx_dir.mkdir()
        cluster.nginx = start_nginx(nginx_dir, site)  # type: ignore[attr-defined]

        def up() -> bool:
            try:
                with cluster.http() as c:
                    return c.get("/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 20, "nginx to answer over TLS")
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    nginx = getattr(cluster, "nginx", None)
    if nginx is not None:
        nginx.terminate()
        nginx.wait(30)
    for p in cluster.procs:
        p.terminate()  # all at once: each shuts down gracefully in parallel
    for p in cluster.procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
    if cluster.engine is not None:
        cluster.engine.dispose()


@pytest.fixture(scope="module")
def _cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = cluster_skip_reason()
    if reason:
        print(reason)
        pytest.skip(reason)
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        stop_cluster(c)


@pytest.fixture
def cluster(_cluster: Cluster) -> Cluster:
    """Three hub processes on one PostgreSQL behind nginx, all running (a test that killed
    one gets it restarted on its port for the next)."""
    _cluster.revive()
    return _cluster
