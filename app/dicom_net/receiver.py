"""Our Storage SCP (plus Verification, and C-FIND/C-GET over the inbox) on pynetdicom.

pynetdicom runs the listening socket and one thread per association; nothing here touches
the GUI thread. Every C-STORE is answered only after the instance is encrypted, on disk and
indexed, so a success status means "kept"; a failure status names the problem:

- 0xA700 out of resources — the disk refused the write (full, read-only);
- 0xC000 cannot understand — the dataset does not parse or lacks its UIDs;
- 0xA900 — the dataset's SOP class is not the one its presentation context was agreed for.

An association that breaks midway keeps every instance already answered; the one in flight
was never indexed, so nothing half-written is ever listed.
"""

from __future__ import annotations

import errno
import io
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, build_context, evt
from pynetdicom.pdu_primitives import A_RELEASE

from app.dicom_net.activity import ReceiveActivity
from app.dicom_net.contexts import (
    ACCEPTED_SYNTAXES,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    UNCOMPRESSED,
    VERIFICATION,
    storage_sop_classes,
)
from app.dicom_net.inbox import Inbox, InstanceRow, MalformedDataset
from app.dicom_net.nodes import LocalNode
from app.dicom_net.part10 import received_file
from app.dicom_net.pynetdicom_tuning import tune_association

log = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_SOP_CLASS_MISMATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC000
# A large receive PDU lets senders use few, big P-DATA fragments (less per-PDU overhead).
MAX_PDU = 1024 * 1024

_QUERY_KEYS = (
    "PatientID",
    "PatientName",
    "StudyInstanceUID",
    "StudyDate",
    "StudyDescription",
    "AccessionNumber",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedInstances",
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "SOPInstanceUID",
    "InstanceNumber",
)


class ReceiverError(RuntimeError):
    """The receiver could not start (the port is taken, the address is wrong, …)."""


def probe_port(bind_address: str, port: int) -> str | None:
    """None when ``bind_address:port`` can be listened on now, else why not."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in bind_address else socket.AF_INET) as s:
            s.bind((bind_address, port))
            s.listen(1)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"port {port} is in use by another program (or YiQiao is already running)"
        if exc.errno == errno.EACCES:
            return f"port {port} needs administrator rights on this system"
        return f"cannot listen on {bind_address}:{port}: {exc.strerror or exc}"
    return None


class StorageReceiver:
    """Listen on ``node`` and store what arrives into ``inbox``."""

    def __init__(
        self, node: LocalNode, inbox: Inbox, activity: ReceiveActivity | None = None
    ) -> None:
        self.node = node
        self.inbox = inbox
        self.activity = activity or ReceiveActivity()
        self._server: Any = None
        self._lock = threading.Lock()

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> int:
        """Bind and start serving in the background; return the port actually bound."""
        ae = AE(ae_title=self.node.ae_title)
        ae.maximum_pdu_size = MAX_PDU
        # A modality may take a while between instances (operator at the console).
        ae.network_timeout = 300
        ae.acse_timeout = 60
        ae.dimse_timeout = 300
        ae.maximum_associations = 16
        ae.add_supported_context(VERIFICATION)
        for sop_class in storage_sop_classes():
            # scu_role lets a C-GET requestor receive over this association too.
            ae.add_supported_context(sop_class, ACCEPTED_SYNTAXES, scu_role=True, scp_role=True)
        ae.add_supported_context(STUDY_ROOT_FIND)
        ae.add_supported_context(STUDY_ROOT_GET)
        ae.add_supported_context(STUDY_ROOT_MOVE)
        handlers: list[Any] = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ACSE_SENT, self._on_acse_sent),
            (evt.EVT_ABORTED, self._on_aborted),
            (evt.EVT_CONN_OPEN, tune_association),
            (evt.EVT_CONN_CLOSE, self._on_closed),
            (evt.EVT_C_ECHO, lambda _event: STATUS_SUCCESS),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_C_GET, self._on_get),
            (evt.EVT_C_MOVE, self._on_move),
        ]
        ssl_context = None
        if self.node.tls_cert or self.node.tls_key:
            from app.dicom_net.tls import TlsConfigError, server_context

            try:
                ssl_context = server_context(
                    self.node.tls_cert,
                    self.node.tls_key,
                    self.node.tls_client_ca,
                    self.node.tls_key_passphrase,
                )
            except TlsConfigError as exc:
                raise ReceiverError(f"DICOM TLS: {exc}") from exc
        try:
            server = ae.start_server(
                (self.node.bind_address, self.node.port),
                block=False,
                evt_handlers=handlers,
                ssl_context=ssl_context,
            )
        except OSError as exc:
            raise ReceiverError(
                f"cannot listen on {self.node.bind_address}:{self.node.port}: {exc.strerror or exc}"
            ) from exc
        if server is None:  # only a blocking server returns None
            raise ReceiverError("the DICOM server did not start")
        with self._lock:
            self._server = server
        port = int(server.server_address[1])
        log.info(
            "DICOM receiver %s listening on %s:%d", self.node.ae_title, self.node.bind_address, port
        )
        return port

    @property
    def port(self) -> int:
        """The bound port (0 when not running)."""
        with self._lock:
            server = self._server
        return int(server.server_address[1]) if server is not None else 0

    @property
    def running(self) -> bool:
        with self._lock:
            return self._server is not None

    def stop(self) -> None:
        """Stop listening and end open associations."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            log.info("DICOM receiver stopped")

    # -- association events -----------------------------------------------------------------
    @staticmethod
    def _key(event: Any) -> int:
        return id(event.assoc)

    def _on_requested(self, event: Any) -> None:
        requestor = event.assoc.requestor
        calling = str(requestor.primitive.calling_ae_title or "").strip()
        address = str(requestor.address)
        if not self.node.admits(calling, address):
            log.warning("DICOM association from %s@%s refused by policy", calling, address)
            self.activity.rejected(calling, address, "not an allowed caller")
            # As pynetdicom's own rejection does: kill() lets the DUL flush the A-ASSOCIATE-RJ
            # before the socket closes (else the caller only sees a dropped connection).
            event.assoc.acse.send_reject(0x01, 0x01, 0x03)
            event.assoc.kill()

    def _on_accepted(self, event: Any) -> None:
        requestor = event.assoc.requestor
        self.activity.started(self._key(event), str(requestor.ae_title).strip(), requestor.address)

    def _on_released(self, event: Any) -> None:
        self.activity.ended(self._key(event), "done")

    def _on_acse_sent(self, event: Any) -> None:
        # Our answer to the sender's release: the transfer is complete. The sender then
        # closes the connection, and the network thread may report that close before the
        # association thread reports "released"; without this it read as aborted.
        if isinstance(event.primitive, A_RELEASE) and event.primitive.result == "affirmative":
            self.activity.ended(self._key(event), "done")

    def _on_aborted(self, event: Any) -> None:
        self.activity.ended(self._key(event), "aborted")

    def _on_closed(self, event: Any) -> None:
        # A dropped TCP connection ends without release or abort: count it as broken.
        self.activity.ended(self._key(event), "aborted")

    # -- services ---------------------------------------------------------------------------
    def _on_store(self, event: Any) -> int:
        key = self._key(event)
        requestor = event.assoc.requestor
        source = f"{str(requestor.ae_title).strip()}@{requestor.address}"
        try:
            data = received_file(event)
        except Exception as exc:  # noqa: BLE001 - whatever the peer sent, answer with a status
            self.activity.failed(key, f"unreadable dataset: {exc}")
            return STATUS_CANNOT_UNDERSTAND
        try:
            stored = self.inbox.add_instance(data, source)
        except MalformedDataset as exc:
            log.warning("C-STORE from %s refused: dataset %s", source, exc)
            self.activity.failed(key, f"dataset {exc}")
            return STATUS_CANNOT_UNDERSTAND
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
            log.error("C-STORE from %s not kept: %s", source, exc)
            self.activity.failed(key, "disk full" if full else f"cannot write: {exc}")
            return STATUS_OUT_OF_RESOURCES
        except Exception as exc:  # noqa: BLE001 - never let one instance take the server down
            log.exception("C-STORE from %s failed", source)
            self.activity.failed(key, f"cannot store: {exc}")
            return STATUS_OUT_OF_RESOURCES
        requested = str(event.request.AffectedSOPClassUID)
        if requested and requested != str(event.context.abstract_syntax):
            return STATUS_SOP_CLASS_MISMATCH
        self.activity.stored(key, stored.size, stored.patient_name, stored.study_uid)
        return STATUS_SUCCESS

    def _on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        identifier: Dataset = event.identifier
        level = str(identifier.get("QueryRetrieveLevel", "STUDY")).upper()
        if level not in ("STUDY", "SERIES", "IMAGE"):
            yield 0xC000, None
            return
        filters = {k: str(identifier.get(k, "") or "") for k in _QUERY_KEYS if k in identifier}
        for row in self.inbox.query_rows(level, filters):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            ds = Dataset()
            ds.SpecificCharacterSet = "ISO_IR 192"  # names may be Chinese
            ds.QueryRetrieveLevel = level
            for k in identifier.dir():
                if k in row:
                    setattr(ds, k, row[k])
                elif k != "QueryRetrieveLevel" and k != "SpecificCharacterSet":
                    setattr(ds, k, identifier.get(k) if k.endswith("UID") else "")
            yield 0xFF00, ds

    def _matching(self, identifier: Dataset) -> list[InstanceRow]:
        """The stored instances a C-GET/C-MOVE identifier asks for."""
        level = str(identifier.get("QueryRetrieveLevel", "STUDY")).upper()
        filters = {k: str(identifier.get(k, "") or "") for k in _QUERY_KEYS if k in identifier}
        wanted = {r.get("SOPInstanceUID") for r in self.inbox.query_rows("IMAGE", filters)}
        return [
            inst
            for study in {r["StudyInstanceUID"] for r in self.inbox.query_rows(level, filters)}
            for inst in self.inbox.instances(study)
            if inst.sop_uid in wanted
        ]

    def _each_instance(self, event: Any, rows: list[InstanceRow]) -> Iterator[Any]:
        """C-GET/C-MOVE: one pending status per stored instance, until the caller cancels."""
        for inst in rows:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield 0xFF00, pydicom.dcmread(io.BytesIO(self.inbox.read(inst.sha256)))

    def _on_get(self, event: Any) -> Iterator[Any]:
        rows = self._matching(event.identifier)
        yield len(rows)
        yield from self._each_instance(event, rows)

    def _on_move(self, event: Any) -> Iterator[Any]:
        """C-MOVE SCP: send what matches to a destination IT listed (``move_destinations``)."""
        wanted = event.move_destination or ""
        if isinstance(wanted, bytes):  # pynetdicom < 2 gave bytes
            wanted = wanted.decode("ascii", "replace")
        dest = self.node.move_destination(str(wanted))
        if dest is None:
            log.warning("C-MOVE to unknown destination %r refused", event.move_destination)
            yield None, None  # pynetdicom answers 0xA801: move destination unknown
            return
        rows = self._matching(event.identifier)
        # One context per SOP class and stored syntax, plus uncompressed to fall back on.
        pairs = sorted({(r.sop_class, r.transfer_syntax) for r in rows})
        contexts = []
        fallback: list[str | UID] = list(UNCOMPRESSED)
        for sop_class, syntax in pairs[:64]:
            contexts.append(build_context(sop_class, [syntax]))
            contexts.append(build_context(sop_class, fallback))
        options: dict[str, Any] = {"contexts": contexts, "ae_title": dest.ae_title}
        if dest.tls:
            from app.dicom_net.tls import client_context

            # A TlsConfigError here is pynetdicom's 0xC515 to the asker, and our log names it.
            tls = client_context(dest.ca_file, dest.cert_file, dest.key_file, dest.key_passphrase)
            options["tls_args"] = (tls, dest.host)
        yield dest.host, dest.port, options
        yield len(rows)
        yield from self._each_instance(event, rows)
