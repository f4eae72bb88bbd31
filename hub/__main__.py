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
from collections.abc import Callable
from pathlib import Path

from hub.config import HubConfig

Translate = Callable[[str, str], str]


def _untranslated(_context: str, text: str) -> str:
    return text


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
    problem = _exposure_problem(args, args.translate)
    if problem:
        _error(args.translate, problem)
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


def _exposure_problem(args: argparse.Namespace, translate: Translate = _untranslated) -> str:
    """Why this serve command must not start ('' if it may): patient data never travels as
    plain HTTP beyond this machine."""
    if bool(args.tls_cert) != bool(args.tls_key):
        return translate("HubCli", "--tls-cert and --tls-key go together")
    for path in (args.tls_cert, args.tls_key):
        if path and not Path(path).is_file():
            return translate("HubCli", "TLS file {path} does not exist").format(path=path)
    if _is_loopback(args.host) or args.tls_cert or args.behind_proxy:
        return ""
    return translate(
        "HubCli",
        "refusing to serve plain HTTP on {host}: patient data would cross the network "
        "unencrypted. Either serve TLS (--tls-cert FILE --tls-key FILE), or put a TLS reverse "
        "proxy in front (deploy/, see docs/deployment.md) and say so with --behind-proxy "
        "[--trusted-proxy ADDRESS]",
    ).format(host=args.host)


def _error(translate: Translate, message: str) -> None:
    print(translate("HubCli", "error: {message}").format(message=message), file=sys.stderr)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

    translate = args.translate
    state = _state(args)
    seeded = seed_demo(state)
    print(
        translate("HubCli", "seeded demo data")
        if seeded
        else translate("HubCli", "demo data already present")
    )
    for username, (display, role, facility, _dept) in DEMO_USERS.items():
        print(f"  {username:12s} / {DEMO_PASSWORD}   {display} ({role}, {facility})")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password:
        return args.password
    if os.environ.get("YIQIAO_HUB_PASSWORD"):
        return os.environ["YIQIAO_HUB_PASSWORD"]
    translate = args.translate
    first = getpass.getpass(translate("HubCli", "new password: "))
    if first != getpass.getpass(translate("HubCli", "repeat: ")):
        raise SystemExit(translate("HubCli", "passwords differ"))
    return first


def cmd_admin(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from hub import accounts, audit
    from hub import db as t

    translate = args.translate
    state = _state(args)
    db = state.db
    try:
        if args.admin_cmd == "facility-add":
            accounts.add_facility(db, args.id, args.name, args.kind, args.quota)
            print(translate("HubCli", "facility {id} created").format(id=args.id))
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
            print(
                translate("HubCli", "user {name} created ({id})").format(name=args.username, id=uid)
            )
        elif args.admin_cmd == "user-list":
            with db.read() as conn:
                for r in conn.execute(sa.select(t.users).order_by(t.users.c.username)):
                    flag = "DISABLED" if r.disabled else ""
                    print(
                        f"{r.username:16s} {r.role:14s} {r.facility_id:20s} {r.department:8s} {r.display_name} {flag}"
                    )
        elif args.admin_cmd == "passwd":
            accounts.set_password(db, args.username, _password(args))
            print(
                translate("HubCli", "password of {name} reset; their sessions ended").format(
                    name=args.username
                )
            )
        elif args.admin_cmd in ("disable", "enable"):
            accounts.set_disabled(db, args.username, args.admin_cmd == "disable")
            done = (
                translate("HubCli", "user {name} disabled")
                if args.admin_cmd == "disable"
                else translate("HubCli", "user {name} enabled")
            )
            print(done.format(name=args.username))
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
        _error(translate, translate("HubCli", exc.template).format(**exc.params))
        return 2
    return 0


def build_parser(translate: Translate = _untranslated) -> argparse.ArgumentParser:
    """The hub's command line, worded with ``translate`` (context "HubCli")."""

    p = argparse.ArgumentParser(
        prog="python -m hub", description=translate("HubCli", "YiQiao hub server")
    )
    p.set_defaults(translate=translate)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--data",
            required=True,
            help=translate("HubCli", "folder for the SQLite file and blobs"),
        )
        sp.add_argument(
            "--db",
            default="",
            help=translate("HubCli", "postgresql://user:pass@host/db (default: SQLite in --data)"),
        )

    s = sub.add_parser("serve", help=translate("HubCli", "run the HTTP server"))
    common(s)
    s.add_argument("--host", default="127.0.0.1", help=translate("HubCli", "address to listen on"))
    s.add_argument("--port", type=int, default=8470, help=translate("HubCli", "port to listen on"))
    s.add_argument(
        "--port-file",
        default="",
        help=translate("HubCli", "write the bound port here (useful with --port 0)"),
    )
    s.add_argument(
        "--seed-demo",
        action="store_true",
        help=translate("HubCli", "seed demo data first (idempotent)"),
    )
    s.add_argument(
        "--max-blob-size",
        type=int,
        dest="max_blob_size",
        help=translate("HubCli", "largest file accepted, in bytes"),
    )
    s.add_argument(
        "--facility-quota",
        type=int,
        dest="facility_quota",
        help=translate("HubCli", "bytes per facility; 0 = unlimited"),
    )
    s.add_argument(
        "--log-level", default="info", help=translate("HubCli", "debug, info, warning or error")
    )
    s.add_argument(
        "--tls-cert",
        default="",
        help=translate("HubCli", "serve HTTPS with this PEM certificate (chain)"),
    )
    s.add_argument(
        "--tls-key", default="", help=translate("HubCli", "the certificate's PEM private key")
    )
    s.add_argument(
        "--behind-proxy",
        action="store_true",
        help=translate(
            "HubCli",
            "a TLS reverse proxy fronts this hub: allow a non-loopback --host and believe "
            "X-Forwarded-For/-Proto from loopback (or from --trusted-proxy)",
        ),
    )
    s.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help=translate(
            "HubCli",
            "address or network of a reverse proxy whose forwarded headers are believed "
            "(repeatable; nobody's by default)",
        ),
    )
    s.add_argument(
        "--exit-with-parent",
        type=int,
        default=0,
        metavar="PID",
        help=translate(
            "HubCli", "shut down gracefully when process PID exits (the embedded demo hub)"
        ),
    )
    s.set_defaults(fn=cmd_serve)

    d = sub.add_parser(
        "demo",
        help=translate("HubCli", "seed demo facilities, users, patients and consultations"),
    )
    common(d)
    d.set_defaults(fn=cmd_demo)

    a = sub.add_parser("admin", help=translate("HubCli", "facilities, users, passwords, audit"))
    common(a)
    asub = a.add_subparsers(dest="admin_cmd", required=True)
    fa = asub.add_parser("facility-add", help=translate("HubCli", "create a facility"))
    fa.add_argument("--id", required=True, help=translate("HubCli", "facility id"))
    fa.add_argument("--name", required=True, help=translate("HubCli", "facility name"))
    fa.add_argument(
        "--kind",
        required=True,
        help=translate("HubCli", "township_clinic | county_hospital | provincial_center"),
    )
    fa.add_argument(
        "--quota", type=int, default=None, help=translate("HubCli", "blob quota in bytes")
    )
    asub.add_parser("facility-list", help=translate("HubCli", "list facilities"))
    ua = asub.add_parser("user-add", help=translate("HubCli", "create a user"))
    ua.add_argument("--username", required=True, help=translate("HubCli", "sign-in name"))
    ua.add_argument("--name", required=True, help=translate("HubCli", "display name"))
    ua.add_argument(
        "--role",
        required=True,
        help=translate("HubCli", "clinic_doctor | specialist | coordinator | admin"),
    )
    ua.add_argument("--facility", required=True, help=translate("HubCli", "facility id"))
    ua.add_argument("--department", default="", help=translate("HubCli", "department"))
    ua.add_argument(
        "--title", default="", help=translate("HubCli", "professional title (职称), e.g. 主任医师")
    )
    ua.add_argument(
        "--password",
        default="",
        help=translate("HubCli", "(else $YIQIAO_HUB_PASSWORD or a prompt)"),
    )
    asub.add_parser("user-list", help=translate("HubCli", "list users"))
    pw = asub.add_parser("passwd", help=translate("HubCli", "reset a password"))
    pw.add_argument("username", help=translate("HubCli", "sign-in name"))
    pw.add_argument(
        "--password",
        default="",
        help=translate("HubCli", "(else $YIQIAO_HUB_PASSWORD or a prompt)"),
    )
    for name, text in (
        ("disable", translate("HubCli", "disable a user (ends their sessions)")),
        ("enable", translate("HubCli", "enable a user again")),
    ):
        asub.add_parser(name, help=text).add_argument(
            "username", help=translate("HubCli", "sign-in name")
        )
    au = asub.add_parser("audit", help=translate("HubCli", "list the audit trail, newest first"))
    au.add_argument("--patient", default=None, help=translate("HubCli", "only this patient id"))
    au.add_argument("--user", default=None, help=translate("HubCli", "only this user name"))
    au.add_argument(
        "--limit", type=int, default=200, help=translate("HubCli", "at most this many entries")
    )
    a.set_defaults(fn=cmd_admin)
    return p


def main(argv: list[str] | None = None, translate: Translate = _untranslated) -> int:
    """``python -m hub …`` (English) or ``main.py hub …`` (``translate`` is Qt's, in the
    user's language: help, printed results and errors)."""
    args = build_parser(translate).parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
