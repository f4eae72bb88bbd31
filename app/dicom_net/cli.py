"""``python main.py dicom receive|echo|send|find|move|get|inbox …``: the DICOM node without the
GUI, for hospital IT and the tests. Exit code 0 on success, 1 when anything failed, 2 for
wrong arguments or configuration.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from app.dicom_net.nodes import Node, NodeError, local_node, pacs_node, parse_node

USAGE_EXAMPLES = """examples:
  dicom echo --pacs PACS@10.1.2.3:104
  dicom receive --port 11112 --ae YIQIAO
  dicom send --pacs PACS@10.1.2.3:104 --anonymize CT/ study.zip-extracted/
  dicom find --pacs PACS@10.1.2.3:104 --patient-id 12345 --date 20240101-20241231
  dicom find --pacs PACS@10.1.2.3:104 --level series --study-uid 1.2.3
  dicom move --pacs PACS@10.1.2.3:104 --study-uid 1.2.3 --dest YIQIAO
  dicom get --pacs PACS@10.1.2.3:104 --study-uid 1.2.3
  dicom inbox
"""


def _settings():  # noqa: ANN202 - app.config.Settings, imported lazily
    from app.config import load_settings

    return load_settings()


def _pacs(args: argparse.Namespace) -> Node:
    if args.pacs:
        return parse_node(args.pacs)
    node = pacs_node(_settings())
    if node is None:
        raise NodeError("no PACS given: use --pacs AE@host:port or set dicom_pacs in settings")
    return node


def _calling(args: argparse.Namespace) -> str:
    return args.calling or str(_settings().get("dicom_ae_title", "YIQIAO"))


def _files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(p for p in sorted(path.rglob("*")) if p.is_file() and p.name != "DICOMDIR")
        elif path.is_file():
            out.append(path)
        else:
            raise NodeError(f"{raw}: no such file or folder")
    return out


def cmd_echo(args: argparse.Namespace) -> int:
    from app.dicom_net.scu import echo

    node = _pacs(args)
    status = echo(node, _calling(args))
    print(f"C-ECHO {node}: status 0x{status:04X}" + (" (answers)" if status == 0 else ""))
    return 0 if status == 0 else 1


def cmd_send(args: argparse.Namespace) -> int:
    from app.dicom_net.scu import Outgoing, send, status_text

    node = _pacs(args)
    files = _files(args.files)
    anonymizer = None
    if args.anonymize:
        from app.dicom_viewer.anonymize import Anonymizer

        anonymizer = Anonymizer()
    items = [Outgoing(str(f), f.read_bytes) for f in files]

    def progress(result, done: int, total: int) -> None:  # noqa: ANN001
        state = "OK " if result.ok else "ERR"
        print(
            f"[{done}/{total}] {state} {result.label}: {result.message or status_text(result.status)}"
        )

    results = send(node, items, _calling(args), anonymizer=anonymizer, progress=progress)
    failed = [r for r in results if not r.ok]
    print(f"sent {len(results) - len(failed)} of {len(results)} to {node}")
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
    print(f"{len(rows)} {level.lower()} match(es) at {node}", file=sys.stderr)
    return 0


def cmd_move(args: argparse.Namespace) -> int:
    from app.dicom_net.scu import move

    node = _pacs(args)
    dest = args.dest or str(_settings().get("dicom_ae_title", "YIQIAO"))
    result = move(node, dest, args.study_uid, args.series_uid or "", _calling(args))
    print(
        f"C-MOVE to {dest}: {result.completed} done, {result.failed} failed, {result.warning} warnings"
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
    print(f"C-GET into the inbox: {result.completed} done, {result.failed} failed")
    return 0 if result.ok else 1


def cmd_receive(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from app.dicom_net.inbox import Inbox
    from app.dicom_net.receiver import ReceiverError, StorageReceiver

    node = local_node(_settings())
    node = replace(
        node,
        port=node.port if args.port is None else args.port,
        ae_title=args.ae or node.ae_title,
        bind_address=args.bind or node.bind_address,
    )
    inbox = Inbox.open()
    inbox.recover()
    inbox.on_added(
        lambda s: print(f"stored {s.sop_uid} ({s.patient_id} {s.patient_name})", flush=True)
    )
    receiver = StorageReceiver(node, inbox)
    try:
        port = receiver.start()
    except ReceiverError as exc:
        print(f"error: {exc}", file=sys.stderr)
        inbox.close()
        return 1
    print(f"listening on {node.bind_address}:{port} as {node.ae_title}; Ctrl-C to stop", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    receiver.stop()
    inbox.close()
    print("stopped", flush=True)
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    from app.dicom_net.inbox import Inbox

    inbox = Inbox.open()
    try:
        for s in inbox.studies():
            print(
                f"{s.study_date}\t{s.patient_id}\t{s.patient_name}\t{s.modalities}\t"
                f"{s.instance_count} instances\t{s.source}\t{s.study_uid}"
            )
    finally:
        inbox.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yiqiao dicom",
        description="YiQiao as a DICOM node (receive, echo, send, find, move, get)",
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def with_pacs(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--pacs", help="AE@host:port (default: the dicom_pacs setting)")
        p.add_argument("--calling", help="our AE title (default: the dicom_ae_title setting)")
        return p

    def with_query(p: argparse.ArgumentParser) -> None:
        p.add_argument("--patient-id")
        p.add_argument("--name", help="patient name (prefix; * and ? allowed)")
        p.add_argument("--date", help="YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
        p.add_argument("--modality")
        p.add_argument("--study-uid")
        p.add_argument("--accession")

    with_pacs(sub.add_parser("echo", help="C-ECHO the PACS")).set_defaults(fn=cmd_echo)
    p = with_pacs(sub.add_parser("send", help="C-STORE files or folders to the PACS"))
    p.add_argument("files", nargs="+")
    p.add_argument("--anonymize", action="store_true", help="PS3.15 basic profile copy")
    p.set_defaults(fn=cmd_send)
    p = with_pacs(sub.add_parser("find", help="C-FIND studies or series"))
    p.add_argument("--level", choices=["study", "series"], default="study")
    with_query(p)
    p.set_defaults(fn=cmd_find)
    for name, fn, text in (
        ("move", cmd_move, "C-MOVE a study to an AE (default: ours)"),
        ("get", cmd_get, "C-GET a study into the inbox"),
    ):
        p = with_pacs(sub.add_parser(name, help=text))
        p.add_argument("--study-uid", required=True)
        p.add_argument("--series-uid")
        if name == "move":
            p.add_argument("--dest", help="destination AE title (default: dicom_ae_title)")
        p.set_defaults(fn=fn)
    p = sub.add_parser("receive", help="run the Storage SCP until stopped")
    p.add_argument("--port", type=int, help="0 picks a free port (default: dicom_port)")
    p.add_argument("--ae", help="our AE title (default: dicom_ae_title)")
    p.add_argument("--bind", help="address to listen on (default: dicom_bind_address)")
    p.set_defaults(fn=cmd_receive)
    sub.add_parser("inbox", help="list received studies").set_defaults(fn=cmd_inbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``main.py dicom …``."""
    args = build_parser().parse_args(argv)
    from app.credentials import KeyringUnavailable
    from app.dicom_net.dicomweb import DicomWebError
    from app.dicom_net.scu import DimseError
    from app.sync.cache import CacheOpenError

    try:
        return int(args.fn(args))
    except (KeyringUnavailable, CacheOpenError) as exc:
        # receive/get/inbox keep instances encrypted; without the keyring there is no key.
        print(f"error: the encrypted DICOM inbox cannot be opened: {exc}", file=sys.stderr)
        return 1
    except NodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DimseError, DicomWebError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
