"""``python main.py dicom receive|echo|send|find|move|get|inbox …``: the DICOM node without the
GUI, for hospital IT and the tests. Exit code 0 on success, 1 when anything failed, 2 for
wrong arguments or configuration.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from app.dicom_net.nodes import (
    Node,
    NodeError,
    local_node,
    pacs_node,
    parse_node,
    with_key_passphrase,
    with_tls,
)

Translate = Callable[[str, str], str]

USAGE_EXAMPLES = """
  dicom echo --pacs PACS@10.1.2.3:104
  dicom receive --port 11112 --ae YIQIAO
  dicom send --pacs PACS@10.1.2.3:104 --anonymize CT/ study.zip-extracted/
  dicom find --pacs PACS@10.1.2.3:104 --patient-id 12345 --date 20240101-20241231
  dicom find --pacs PACS@10.1.2.3:104 --level series --study-uid 1.2.3
  dicom move --pacs PACS@10.1.2.3:104 --study-uid 1.2.3 --dest YIQIAO
  dicom get --pacs PACS@10.1.2.3:104 --study-uid 1.2.3
  dicom inbox
  dicom tls-passphrase
"""


def _settings():  # noqa: ANN202 - app.config.Settings, imported lazily
    from app.config import load_settings

    return load_settings()


def _untranslated(_context: str, text: str) -> str:
    return text


class _NoPacs(Exception):
    """No PACS on the command line nor in the settings."""


def _pacs(args: argparse.Namespace) -> Node:
    if args.pacs:
        given = parse_node(args.pacs)
        return with_tls(given, _settings()) if args.tls else given
    node = pacs_node(_settings())
    if node is None:
        raise _NoPacs("no PACS given: use --pacs AE@host:port or set dicom_pacs in settings")
    return node


def _calling(args: argparse.Namespace) -> str:
    return args.calling or str(_settings().get("dicom_ae_title", "YIQIAO"))


class _NoSuchPath(Exception):
    """A file or folder named on the command line does not exist."""


def _files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(p for p in sorted(path.rglob("*")) if p.is_file() and p.name != "DICOMDIR")
        elif path.is_file():
            out.append(path)
        else:
            raise _NoSuchPath(raw)
    return out


def cmd_echo(args: argparse.Namespace) -> int:
    from app.dicom_net.scu import echo

    node = _pacs(args)
    status = echo(node, _calling(args))
    translate = args.translate
    print(
        (
            translate("DicomCli", "C-ECHO {node}: the PACS answers (status 0x{status:04X})")
            if status == 0
            else translate("DicomCli", "C-ECHO {node}: refused with status 0x{status:04X}")
        ).format(node=node, status=status)
    )
    return 0 if status == 0 else 1


def cmd_send(args: argparse.Namespace) -> int:
    from app.dicom_net.scu import Outgoing, send
    from app.dicom_net.wording import status_words

    node = _pacs(args)
    files = _files(args.files)
    anonymizer = None
    if args.anonymize:
        from app.dicom_viewer.anonymize import Anonymizer

        anonymizer = Anonymizer()
    items = [Outgoing(str(f), f.read_bytes) for f in files]

    translate = args.translate

    def progress(result, done: int, total: int) -> None:  # noqa: ANN001
        words = status_words(result.status, translate) if result.status != -1 else result.message
        state = "✓" if result.ok else "✗"
        print(f"[{done}/{total}] {state} {result.label}: {words or result.message}")

    results = send(node, items, _calling(args), anonymizer=anonymizer, progress=progress)
    failed = [r for r in results if not r.ok]
    print(
        translate("DicomCli", "sent {sent} of {total} to {node}").format(
            sent=len(results) - len(failed), total=len(results), node=node
        )
    )
    return 1 if failed else 0


def _query(args: argparse.Namespace):  # noqa: ANN202
    from app.dicom_net.scu import Query

    return Query(
        patient_id=args.patient_id or "",
        patient_name=args.name or "",
        date=args.date or "",
        modality=args.modality or "",
        study_uid=args.study_uid or "",
        accession=args.accession or "",
    )


def cmd_find(args: argparse.Namespace) -> int:
    from app.dicom_net.scu import find

    node = _pacs(args)
    level = args.level.upper()
    rows = find(node, _query(args), level, _calling(args))
    keys = (
        [
            "PatientID",
            "PatientName",
            "StudyDate",
            "ModalitiesInStudy",
            "StudyDescription",
            "StudyInstanceUID",
        ]
        if level == "STUDY"
        else [
            "SeriesNumber",
            "Modality",
            "SeriesDescription",
            "NumberOfSeriesRelatedInstances",
            "SeriesInstanceUID",
        ]
    )
    print("\t".join(keys))
    for row in rows:
        print("\t".join(row.get(k, "") for k in keys))
    found = (
        args.translate("DicomCli", "{count} studies found at {node}")
        if level == "STUDY"
        else args.translate("DicomCli", "{count} series found at {node}")
    )
    print(found.format(count=len(rows), node=node), file=sys.stderr)
    return 0


def cmd_move(args: argparse.Namespace) -> int:
    from app.dicom_net.scu import move

    node = _pacs(args)
    dest = args.dest or str(_settings().get("dicom_ae_title", "YIQIAO"))
    result = move(node, dest, args.study_uid, args.series_uid or "", _calling(args))
    print(
        args.translate(
            "DicomCli", "C-MOVE to {dest}: {done} done, {failed} failed, {warnings} warnings"
        ).format(dest=dest, done=result.completed, failed=result.failed, warnings=result.warning)
    )
    return 0 if result.ok else 1


def cmd_get(args: argparse.Namespace) -> int:
    from app.dicom_net.inbox import Inbox
    from app.dicom_net.scu import get

    node = _pacs(args)
    inbox = Inbox.open()
    try:
        result = get(
            node,
            args.study_uid,
            lambda data: None if inbox.add_instance(data, f"C-GET {node}") else None,
            args.series_uid or "",
            _calling(args),
        )
    finally:
        inbox.close()
    print(
        args.translate("DicomCli", "C-GET into the inbox: {done} done, {failed} failed").format(
            done=result.completed, failed=result.failed
        )
    )
    return 0 if result.ok else 1


def cmd_receive(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from app.dicom_net.inbox import Inbox
    from app.dicom_net.receiver import ReceiverError, StorageReceiver
    from app.dicom_net.wording import net_error_text

    node = with_key_passphrase(local_node(_settings()))
    node = replace(
        node,
        port=node.port if args.port is None else args.port,
        ae_title=args.ae or node.ae_title,
        bind_address=args.bind or node.bind_address,
    )
    translate = args.translate
    inbox = Inbox.open()
    inbox.recover()
    stored = translate("DicomCli", "stored {sop} ({patient_id} {name})")
    inbox.on_added(
        lambda s: print(
            stored.format(sop=s.sop_uid, patient_id=s.patient_id, name=s.patient_name), flush=True
        )
    )
    receiver = StorageReceiver(node, inbox)
    try:
        port = receiver.start()
    except ReceiverError as exc:
        _error(translate, net_error_text(exc, translate))
        inbox.close()
        return 1
    print(
        translate("DicomCli", "listening on {address}:{port} as {ae}; Ctrl-C to stop").format(
            address=node.bind_address, port=port, ae=node.ae_title
        ),
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    receiver.stop()
    inbox.close()
    print(translate("DicomCli", "stopped"), flush=True)
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    from app.dicom_net.inbox import Inbox

    inbox = Inbox.open()
    try:
        for s in inbox.studies():
            print(
                f"{s.study_date}\t{s.patient_id}\t{s.patient_name}\t{s.modalities}\t"
                + args.translate("DicomCli", "{count} instances").format(count=s.instance_count)
                + f"\t{s.source}\t{s.study_uid}"
            )
    finally:
        inbox.close()
    return 0


def cmd_tls_passphrase(args: argparse.Namespace) -> int:
    """Store (or clear) the DICOM TLS key's passphrase in the OS keyring, checked first
    against the configured key so a typo never locks the receiver out."""
    from app import credentials
    from app.dicom_net.tls import (
        KEY_PASSPHRASE_SECRET,
        KeyNotEncrypted,
        TlsConfigError,
        check_encrypted_key,
    )

    translate = args.translate
    if args.clear:
        credentials.delete_secret(KEY_PASSPHRASE_SECRET)
        print(translate("DicomCli", "The passphrase was removed from the OS keyring."))
        return 0
    if sys.stdin.isatty():
        import getpass

        passphrase = getpass.getpass(translate("DicomCli", "Passphrase of the DICOM TLS key: "))
        if getpass.getpass(translate("DicomCli", "The same again: ")) != passphrase:
            _error(translate, translate("DicomCli", "the two passphrases differ; nothing stored"))
            return 2
    else:  # scripted roll-out: the passphrase on standard input
        passphrase = sys.stdin.readline().rstrip("\r\n")
    if not passphrase:
        _error(translate, translate("DicomCli", "an empty passphrase; nothing stored"))
        return 2
    settings = _settings()
    cert = str(settings.get("dicom_tls_cert", "") or "")
    key = str(settings.get("dicom_tls_key", "") or "")
    if key:
        try:
            check_encrypted_key(cert, key, passphrase)
        except KeyNotEncrypted:
            _error(
                translate,
                translate(
                    "DicomCli",
                    "the key {key} is not encrypted, so a passphrase does not protect it: "
                    "encrypt it (openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out "
                    "key-encrypted.pem), point dicom_tls_key at the new file and delete "
                    "the old one",
                ).format(key=key),
            )
            return 2
        except (TlsConfigError, OSError) as exc:
            _error(
                translate, translate("DicomCli", "nothing stored: {problem}").format(problem=exc)
            )
            return 2
    credentials.set_secret(KEY_PASSPHRASE_SECRET, passphrase)
    print(translate("DicomCli", "The passphrase is stored in the OS keyring."))
    return 0


def build_parser(translate: Translate = _untranslated) -> argparse.ArgumentParser:
    """``main.py dicom``'s command line, worded with ``translate`` (context "DicomCli")."""
    parser = argparse.ArgumentParser(
        prog="yiqiao dicom",
        description=translate(
            "DicomCli", "YiQiao as a DICOM node (receive, echo, send, find, move, get)"
        ),
        epilog=translate("DicomCli", "examples:") + USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(translate=translate)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_pacs(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--pacs", help=translate("DicomCli", "AE@host:port (default: the dicom_pacs setting)")
        )
        p.add_argument(
            "--calling",
            help=translate("DicomCli", "our AE title (default: the dicom_ae_title setting)"),
        )
        p.add_argument(
            "--tls",
            action="store_true",
            help=translate(
                "DicomCli", "DICOM TLS to --pacs, with the certificates from the settings"
            ),
        )
        return p

    def with_query(p: argparse.ArgumentParser) -> None:
        p.add_argument("--patient-id", help=translate("DicomCli", "patient ID"))
        p.add_argument(
            "--name", help=translate("DicomCli", "patient name (prefix; * and ? allowed)")
        )
        p.add_argument(
            "--date", help=translate("DicomCli", "YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
        )
        p.add_argument("--modality", help=translate("DicomCli", "modality, e.g. CT"))
        p.add_argument("--study-uid", help=translate("DicomCli", "study instance UID"))
        p.add_argument("--accession", help=translate("DicomCli", "accession number"))

    with_pacs(sub.add_parser("echo", help=translate("DicomCli", "C-ECHO the PACS"))).set_defaults(
        fn=cmd_echo
    )
    p = with_pacs(
        sub.add_parser("send", help=translate("DicomCli", "C-STORE files or folders to the PACS"))
    )
    p.add_argument("files", nargs="+", help=translate("DicomCli", "DICOM files or folders"))
    p.add_argument(
        "--anonymize",
        action="store_true",
        help=translate("DicomCli", "send an anonymized copy (PS3.15 basic profile)"),
    )
    p.set_defaults(fn=cmd_send)
    p = with_pacs(sub.add_parser("find", help=translate("DicomCli", "C-FIND studies or series")))
    p.add_argument(
        "--level",
        choices=["study", "series"],
        default="study",
        help=translate("DicomCli", "look for studies or for series"),
    )
    with_query(p)
    p.set_defaults(fn=cmd_find)
    for name, fn, text in (
        ("move", cmd_move, translate("DicomCli", "C-MOVE a study to an AE (default: ours)")),
        ("get", cmd_get, translate("DicomCli", "C-GET a study into the inbox")),
    ):
        p = with_pacs(sub.add_parser(name, help=text))
        p.add_argument(
            "--study-uid", required=True, help=translate("DicomCli", "study instance UID")
        )
        p.add_argument("--series-uid", help=translate("DicomCli", "only this series"))
        if name == "move":
            p.add_argument(
                "--dest",
                help=translate("DicomCli", "destination AE title (default: dicom_ae_title)"),
            )
        p.set_defaults(fn=fn)
    p = sub.add_parser("receive", help=translate("DicomCli", "run the Storage SCP until stopped"))
    p.add_argument(
        "--port", type=int, help=translate("DicomCli", "0 picks a free port (default: dicom_port)")
    )
    p.add_argument("--ae", help=translate("DicomCli", "our AE title (default: dicom_ae_title)"))
    p.add_argument(
        "--bind",
        help=translate("DicomCli", "address to listen on (default: dicom_bind_address)"),
    )
    p.set_defaults(fn=cmd_receive)
    sub.add_parser("inbox", help=translate("DicomCli", "list received studies")).set_defaults(
        fn=cmd_inbox
    )
    p = sub.add_parser(
        "tls-passphrase",
        help=translate(
            "DicomCli",
            "store the passphrase of the encrypted DICOM TLS key (dicom_tls_key) in the OS "
            "keyring (asked for, or one line on standard input)",
        ),
    )
    p.add_argument(
        "--clear", action="store_true", help=translate("DicomCli", "remove it from the keyring")
    )
    p.set_defaults(fn=cmd_tls_passphrase)
    return parser


def _error(translate: Translate, message: str) -> None:
    print(translate("DicomCli", "error: {message}").format(message=message), file=sys.stderr)


def main(argv: list[str] | None = None, translate: Translate = _untranslated) -> int:
    """Entry point for ``main.py dicom …``; ``translate`` (context, text) words help, results
    and errors (main.py passes Qt's in the user's language)."""
    args = build_parser(translate).parse_args(argv)
    from app.credentials import KeyringUnavailable
    from app.dicom_net.dicomweb import DicomWebError
    from app.dicom_net.scu import DimseError
    from app.dicom_net.wording import net_error_text
    from app.sync.cache import CacheOpenError

    try:
        return int(args.fn(args))
    except (KeyringUnavailable, CacheOpenError) as exc:
        # receive/get/inbox keep instances encrypted; without the keyring there is no key.
        _error(
            translate,
            translate("DicomCli", "the encrypted DICOM inbox cannot be opened.") + f"\n({exc})",
        )
        return 1
    except _NoPacs:
        _error(
            translate,
            translate(
                "DicomCli", "no PACS given: use --pacs AE@host:port or set dicom_pacs in settings"
            ),
        )
        return 2
    except _NoSuchPath as exc:
        _error(translate, translate("DicomCli", "{path}: no such file or folder").format(path=exc))
        return 2
    except (NodeError, DimseError, DicomWebError, OSError) as exc:
        _error(translate, net_error_text(exc, translate))
        return 2 if isinstance(exc, NodeError) else 1
