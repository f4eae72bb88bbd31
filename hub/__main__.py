"""``python -m hub serve|admin|demo``: run the hub, manage accounts, seed demo data."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import ipaddress
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from hub.config import HubConfig


def _config(args: argparse.Namespace) -> HubConfig:
    data = Path(args.data).resolve()
    data.mkdir(parents=True, exist_ok=True)
    cfg = HubConfig(data_dir=data, db_url=args.db or os.environ.get("YIQIAO_HUB_DB", ""))
    for name in ("max_blob_size", "facility_quota"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(cfg, name, value)
    return cfg


def _state(args: argparse.Namespace):  # noqa: ANN202
    from hub.blobstore import FileBlobStore
    from hub.db import Database
    from hub.state import HubState

    cfg = _config(args)
    db = Database(cfg.database_url)
    db.migrate()
    return HubState(config=cfg, db=db, blobs=FileBlobStore(cfg.blob_dir, cfg.upload_dir))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hub.app import create_app
    from hub.logs import setup_logging
    from hub.server import uvicorn_config

    setup_logging(args.log_level.upper())
    log = logging.getLogger("hub")
    problem = _exposure_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    cfg = _config(args)
    if args.trusted_proxy:
        cfg.trusted_proxies = tuple(args.trusted_proxy)
    elif args.behind_proxy:
        cfg.trusted_proxies = ("127.0.0.1", "::1")
    app = create_app(cfg)
    if args.seed_demo:
        from hub.demo import seed_demo

        if seed_demo(app.state.hub):
            log.info("seeded demo data")
    from hub.blobs import purge_expired

    purge_expired(app.state.hub)
    # Bind ourselves so --port 0 works and the chosen port can be reported before serving.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on such sockets, and without it every
    # keep-alive response waits ~40 ms for Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    if args.port_file:
        tmp = Path(args.port_file + ".tmp")
        tmp.write_text(str(port))
        tmp.replace(args.port_file)
    log.info(
        "hub listening",
        extra={"fields": {"host": args.host, "port": port, "db": cfg.database_url.split("@")[-1]}},
    )
    tls = {"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key} if args.tls_cert else {}
    config = uvicorn_config(app, cfg, timeout_graceful_shutdown=30, **tls)
    server = uvicorn.Server(config)
    if args.exit_with_parent:
        from hub.parent_watch import watch_parent

        def parent_gone() -> None:
            log.info("the client that started this hub is gone; shutting down")
            server.should_exit = True

        watch_parent(args.exit_with_parent, parent_gone)
    # uvicorn handles SIGTERM/SIGINT itself (stop accepting, finish in-flight requests, up to
    # 30 s) and then re-raises the signal; this handler turns that into a clean exit code 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        app.state.hub.db.dispose()
    log.info("hub stopped")
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _exposure_problem(args: argparse.Namespace) -> str:
    """Why this serve command must not start ('' if it may): patient data never travels as
    plain HTTP beyond this machine."""
    if bool(args.tls_cert) != bool(args.tls_key):
        return "--tls-cert and --tls-key go together"
    for path in (args.tls_cert, args.tls_key):
        if path and not Path(path).is_file():
            return f"TLS file {path} does not exist"
    if _is_loopback(args.host) or args.tls_cert or args.behind_proxy:
        return ""
    return (
        f"refusing to serve plain HTTP on {args.host}: patient data would cross the network "
        "unencrypted. Either serve TLS (--tls-cert FILE --tls-key FILE), or put a TLS reverse "
        "proxy in front (deploy/, see docs/deployment.md) and say so with --behind-proxy "
        "[--trusted-proxy ADDRESS]"
    )


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

    state = _state(args)
    seeded = seed_demo(state)
    print("seeded demo data" if seeded else "demo data already present")
    for username, (display, role, facility, _dept) in DEMO_USERS.items():
        print(f"  {username:12s} / {DEMO_PASSWORD}   {display} ({role}, {facility})")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password:
        return args.password
    if os.environ.get("YIQIAO_HUB_PASSWORD"):
        return os.environ["YIQIAO_HUB_PASSWORD"]
    first = getpass.getpass("new password: ")
    if first != getpass.getpass("repeat: "):
        raise SystemExit("passwords differ")
    return first


def cmd_admin(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from hub import accounts, audit
    from hub import db as t

    state = _state(args)
    db = state.db
    try:
        if args.admin_cmd == "facility-add":
            accounts.add_facility(db, args.id, args.name, args.kind, args.quota)
            print(f"facility {args.id} created")
        elif args.admin_cmd == "facility-list":
            with db.read() as conn:
                for r in conn.execute(sa.select(t.facilities).order_by(t.facilities.c.id)):
                    print(f"{r.id:24s} {r.kind:18s} {r.name}  quota={r.quota_bytes or 'default'}")
        elif args.admin_cmd == "user-add":
            uid = accounts.add_user(
                db,
                args.username,
                args.name,
                args.role,
                args.facility,
                _password(args),
                args.department,
                title=args.title,
            )
            print(f"user {args.username} created ({uid})")
        elif args.admin_cmd == "user-list":
            with db.read() as conn:
                for r in conn.execute(sa.select(t.users).order_by(t.users.c.username)):
                    flag = "DISABLED" if r.disabled else ""
                    print(
                        f"{r.username:16s} {r.role:14s} {r.facility_id:20s} {r.department:8s} {r.display_name} {flag}"
                    )
        elif args.admin_cmd == "passwd":
            accounts.set_password(db, args.username, _password(args))
            print(f"password of {args.username} reset; their sessions ended")
        elif args.admin_cmd in ("disable", "enable"):
            accounts.set_disabled(db, args.username, args.admin_cmd == "disable")
            print(f"user {args.username} {args.admin_cmd}d")
        elif args.admin_cmd == "audit":
            with db.read() as conn:
                rows = audit.query(
                    conn, patient_id=args.patient, username=args.user, limit=args.limit
                )
                ids = {r.patient_id for r in rows if r.patient_id}
                names = (
                    dict(
                        conn.execute(
                            sa.select(t.documents.c.id, t.documents.c.fields).where(
                                t.documents.c.id.in_(ids)
                            )
                        ).all()
                    )
                    if ids
                    else {}
                )
            for r in rows:
                when = dt.datetime.fromtimestamp(r.at).isoformat(timespec="seconds")
                target = r.doc_id or r.sha256 or ""
                name = (names.get(r.patient_id) or {}).get("name", "")
                print(
                    f"{when} {r.username:12s} {r.ip:15s} {r.action:10s} patient={r.patient_id or '-'} "
                    f"{name} {target} {r.detail}".rstrip()
                )
    except accounts.AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hub", description="YiQiao hub server")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data", required=True, help="folder for the SQLite file and blobs")
        sp.add_argument(
            "--db", default="", help="postgresql://user:pass@host/db (default: SQLite in --data)"
        )

    s = sub.add_parser("serve", help="run the HTTP server")
    common(s)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8470)
    s.add_argument(
        "--port-file", default="", help="write the bound port here (useful with --port 0)"
    )
    s.add_argument("--seed-demo", action="store_true", help="seed demo data first (idempotent)")
    s.add_argument("--max-blob-size", type=int, dest="max_blob_size")
    s.add_argument(
        "--facility-quota",
        type=int,
        dest="facility_quota",
        help="bytes per facility; 0 = unlimited",
    )
    s.add_argument("--log-level", default="info")
    s.add_argument("--tls-cert", default="", help="serve HTTPS with this PEM certificate (chain)")
    s.add_argument("--tls-key", default="", help="the certificate's PEM private key")
    s.add_argument(
        "--behind-proxy",
        action="store_true",
        help="a TLS reverse proxy fronts this hub: allow a non-loopback --host and believe "
        "X-Forwarded-For/-Proto from loopback (or from --trusted-proxy)",
    )
    s.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="address or network of a reverse proxy whose forwarded headers are believed "
        "(repeatable; nobody's by default)",
    )
    s.add_argument(
        "--exit-with-parent",
        type=int,
        default=0,
        metavar="PID",
        help="shut down gracefully when process PID exits (the embedded demo hub)",
    )
    s.set_defaults(fn=cmd_serve)

    d = sub.add_parser("demo", help="seed demo facilities, users, patients and consultations")
    common(d)
    d.set_defaults(fn=cmd_demo)

    a = sub.add_parser("admin", help="facilities, users, passwords, audit")
    common(a)
    asub = a.add_subparsers(dest="admin_cmd", required=True)
    fa = asub.add_parser("facility-add")
    fa.add_argument("--id", required=True)
    fa.add_argument("--name", required=True)
    fa.add_argument(
        "--kind", required=True, help="township_clinic | county_hospital | provincial_center"
    )
    fa.add_argument("--quota", type=int, default=None, help="blob quota in bytes")
    asub.add_parser("facility-list")
    ua = asub.add_parser("user-add")
    ua.add_argument("--username", required=True)
    ua.add_argument("--name", required=True, help="display name")
    ua.add_argument(
        "--role", required=True, help="clinic_doctor | specialist | coordinator | admin"
    )
    ua.add_argument("--facility", required=True)
    ua.add_argument("--department", default="")
    ua.add_argument("--title", default="", help="professional title (职称), e.g. 主任医师")
    ua.add_argument("--password", default="", help="(else $YIQIAO_HUB_PASSWORD or a prompt)")
    asub.add_parser("user-list")
    pw = asub.add_parser("passwd", help="reset a password")
    pw.add_argument("username")
    pw.add_argument("--password", default="")
    for name in ("disable", "enable"):
        asub.add_parser(name).add_argument("username")
    au = asub.add_parser("audit", help="list the audit trail, newest first")
    au.add_argument("--patient", default=None)
    au.add_argument("--user", default=None)
    au.add_argument("--limit", type=int, default=200)
    a.set_defaults(fn=cmd_admin)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
