"""Talking to a PACS over DIMSE: C-ECHO, C-STORE (send), C-FIND, C-MOVE and C-GET.

Every call opens one association, does its work and releases it; errors come back as
``DimseError`` naming the peer and what went wrong (refused, unreachable, rejected context),
never as a pynetdicom exception. Blocking: call from a worker thread.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role, evt

from app.dicom_net.contexts import (
    ACCEPTED_SYNTAXES,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    VERIFICATION,
)
from app.dicom_net.nodes import Node

log = logging.getLogger(__name__)

MAX_CONTEXTS = 128  # PS3.8: at most 128 presentation contexts per association


class DimseError(RuntimeError):
    """A DIMSE exchange with a peer failed (the message names the peer and the reason).

    ``kind`` lets the UI word it: unreachable, rejected, no_response, failed, bad_request.
    """

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class InstanceResult:
    """What the peer said about one instance we sent."""

    label: str
    sop_uid: str
    status: int  # -1: not sent (no context accepted, unreadable input, association lost)
    message: str = ""
    transfer_syntax: str = ""

    @property
    def ok(self) -> bool:
        # 0xB000, 0xB007, 0xB006: warnings (coercion, mismatch, elements discarded): stored.
        return self.status == 0x0000 or (self.status >> 12) == 0xB


def status_text(status: int) -> str:
    """A short English name for a DIMSE status code (the UI translates the categories)."""
    if status == 0:
        return "success"
    if status == -1:
        return "not sent"
    if status >> 12 == 0xB:
        return f"warning 0x{status:04X}"
    if status >> 8 == 0xA7:
        return f"refused: out of resources 0x{status:04X}"
    if status >> 8 == 0xA9:
        return f"refused: data set does not match SOP class 0x{status:04X}"
    if status >> 12 == 0xC:
        return f"error: cannot understand 0x{status:04X}"
    return f"failed 0x{status:04X}"


def _ae(calling: str) -> AE:
    ae = AE(ae_title=calling)
    ae.acse_timeout = 30
    ae.dimse_timeout = 120
    ae.network_timeout = 60
    ae.connection_timeout = 15
    return ae


@contextmanager
def _association(ae: AE, node: Node, what: str, **kwargs: Any) -> Iterator[Any]:
    if node.tls:
        from app.dicom_net.tls import TlsConfigError, client_context

        try:
            context = client_context(
                node.ca_file, node.cert_file, node.key_file, node.key_passphrase
            )
        except TlsConfigError as exc:
            raise DimseError(f"{node}: TLS is not usable: {exc}", "tls") from exc
        kwargs["tls_args"] = (context, node.host)
    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, **kwargs)
    except Exception as exc:  # noqa: BLE001 - bad host names raise from socket code
        raise DimseError(f"{node}: cannot connect for {what}: {exc}", "unreachable") from exc
    if not assoc.is_established:
        if assoc.is_rejected:
            raise DimseError(
                f"{node} rejected the association for {what} (check AE titles)", "rejected"
            )
        raise DimseError(
            f"{node} did not answer ({what}); is the address and port right?", "unreachable"
        )
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def echo(node: Node, calling: str = "YIQIAO") -> int:
    """C-ECHO; returns the status (0 = the PACS answers). Raises DimseError if unreachable."""
    ae = _ae(calling)
    ae.add_requested_context(VERIFICATION)
    with _association(ae, node, "C-ECHO") as assoc:
        status = assoc.send_c_echo()
        if not status:
            raise DimseError(
                f"{node}: no C-ECHO response (connection lost or timed out)", "no_response"
            )
        return int(status.Status)


# -- sending -------------------------------------------------------------------------------
@dataclass
class Outgoing:
    """One instance to send: a label for the results list and how to get its bytes."""

    label: str
    load: Callable[[], bytes]


def _read(item: Outgoing) -> Dataset:
    return pydicom.dcmread(io.BytesIO(item.load()), force=True)


def _syntax(ds: Dataset) -> str:
    return str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")


def send(
    node: Node,
    items: list[Outgoing],
    calling: str = "YIQIAO",
    anonymizer: Any = None,
    progress: Callable[[InstanceResult, int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[InstanceResult]:
    """C-STORE ``items`` to ``node`` in one association; one result per item.

    For each SOP class we propose the file's own transfer syntax plus uncompressed ones; when
    the PACS accepts only uncompressed, compressed files are decoded before sending. With an
    ``anonymizer`` (app.dicom_viewer.anonymize.Anonymizer) a de-identified copy goes out; the
    stored instance is never changed.
    """
    headers: list[tuple[Outgoing, str, str]] = []
    results: list[InstanceResult | None] = []
    syntaxes: dict[str, list[str]] = {}
    for item in items:
        try:
            ds = pydicom.dcmread(io.BytesIO(item.load()), stop_before_pixels=True, force=True)
            sop_class, tsyntax = str(ds.SOPClassUID), _syntax(ds) or str(ExplicitVRLittleEndian)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is one failed row
            headers.append((item, "", ""))
            results.append(InstanceResult(item.label, "", -1, f"unreadable: {exc}"))
            continue
        headers.append((item, sop_class, tsyntax))
        results.append(None)
        wanted = syntaxes.setdefault(sop_class, [])
        if tsyntax not in wanted:
            wanted.append(tsyntax)
    # One context per compressed syntax (each alone, so a PACS that prefers uncompressed
    # cannot pick that in the same context) plus one uncompressed context per SOP class.
    contexts = [
        (sop_class, [t])
        for sop_class, wanted in syntaxes.items()
        for t in wanted
        if UID(t).is_compressed
    ] + [(c, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]) for c in syntaxes]
    if len(contexts) > MAX_CONTEXTS:
        raise DimseError(f"{len(contexts)} SOP class/syntax pairs: at most {MAX_CONTEXTS} per send")
    ae = _ae(calling)
    for sop_class, offered in contexts:
        ae.add_requested_context(sop_class, offered)
    total = len(items)
    done = 0
    if not syntaxes:
        return [r for r in results if r is not None]
    with _association(ae, node, "C-STORE") as assoc:
        accepted: dict[str, set[str]] = {}
        for cx in assoc.accepted_contexts:
            accepted.setdefault(str(cx.abstract_syntax), set()).add(str(cx.transfer_syntax[0]))
        for index, (item, sop_class, tsyntax) in enumerate(headers):
            if results[index] is not None:
                done += 1
                if progress:
                    progress(results[index], done, total)  # type: ignore[arg-type]
                continue
            if cancelled is not None and cancelled():
                results[index] = InstanceResult(item.label, "", -1, "cancelled")
                continue
            result = _send_one(assoc, item, sop_class, tsyntax, accepted, anonymizer)
            results[index] = result
            done += 1
            if progress:
                progress(result, done, total)
            if not assoc.is_established:
                break
    return [
        r if r is not None else InstanceResult(h[0].label, "", -1, "association ended early")
        for r, h in zip(results, headers, strict=True)
    ]


def _send_one(
    assoc: Any,
    item: Outgoing,
    sop_class: str,
    tsyntax: str,
    accepted: dict[str, set[str]],
    anonymizer: Any,
) -> InstanceResult:
    ok_syntaxes = accepted.get(sop_class, set())
    if not ok_syntaxes:
        return InstanceResult(item.label, "", -1, f"the PACS does not accept SOP class {sop_class}")
    try:
        ds = _read(item)
        if tsyntax not in ok_syntaxes:
            if UID(tsyntax).is_compressed:
                ds.decompress()  # to explicit VR little endian
            target = next(
                (t for t in (ExplicitVRLittleEndian, ImplicitVRLittleEndian) if t in ok_syntaxes),
                None,
            )
            if target is None:
                return InstanceResult(item.label, str(ds.SOPInstanceUID), -1, "no common syntax")
            ds.file_meta.TransferSyntaxUID = target
        if anonymizer is not None:
            anonymizer.apply(ds)
        sop_uid = str(ds.SOPInstanceUID)
        status = assoc.send_c_store(ds)
    except Exception as exc:  # noqa: BLE001 - one bad instance must not stop the others
        return InstanceResult(item.label, "", -1, f"cannot send: {exc}")
    if not status:
        return InstanceResult(item.label, sop_uid, -1, "no response (association lost)")
    code = int(status.Status)
    return InstanceResult(item.label, sop_uid, code, status_text(code), _syntax(ds))


# -- query ---------------------------------------------------------------------------------
STUDY_KEYS = (
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
SERIES_KEYS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
)


@dataclass(frozen=True)
class Query:
    """What the specialist searches for (empty = any). ``date``: YYYYMMDD or a range A-B."""

    patient_id: str = ""
    patient_name: str = ""
    date: str = ""
    modality: str = ""
    study_uid: str = ""
    accession: str = ""


def query_dataset(query: Query, level: str) -> Dataset:
    """The C-FIND identifier for ``query`` at STUDY or SERIES level."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    ds.SpecificCharacterSet = "ISO_IR 192"
    for key in STUDY_KEYS if level == "STUDY" else SERIES_KEYS:
        setattr(ds, key, "")
    if level == "STUDY":
        ds.PatientID = query.patient_id
        name = query.patient_name
        if name and "*" not in name and "?" not in name:
            name += "*"  # people type the start of a name
        ds.PatientName = name
        ds.StudyDate = query.date
        ds.ModalitiesInStudy = query.modality
        ds.AccessionNumber = query.accession
        ds.StudyInstanceUID = query.study_uid
    else:
        if not query.study_uid:
            raise DimseError("a series query needs the study (StudyInstanceUID)", "bad_request")
        ds.StudyInstanceUID = query.study_uid
        ds.Modality = query.modality
    return ds


def find(
    node: Node, query: Query, level: str = "STUDY", calling: str = "YIQIAO", limit: int = 500
) -> list[dict[str, str]]:
    """C-FIND (study root) at ``level``; each match as keyword → text."""
    ae = _ae(calling)
    ae.add_requested_context(STUDY_ROOT_FIND)
    identifier = query_dataset(query, level)
    out: list[dict[str, str]] = []
    with _association(ae, node, "C-FIND") as assoc:
        for status, found in assoc.send_c_find(identifier, STUDY_ROOT_FIND):
            if not status:
                raise DimseError(
                    f"{node}: C-FIND got no response (connection lost or timed out)", "no_response"
                )
            code = int(status.Status)
            if code in (0xFF00, 0xFF01) and found is not None:
                out.append(
                    {e.keyword: value_text(e.value) for e in found if e.keyword and e.VR != "SQ"}
                )
                if len(out) >= limit:
                    assoc.send_c_cancel(1, query_model=STUDY_ROOT_FIND)
                    break
            elif code != 0x0000:
                raise DimseError(f"{node}: C-FIND failed ({status_text(code)})")
    return out


def value_text(value: Any) -> str:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class RetrieveResult:
    """Sub-operation counts from the PACS's final C-MOVE/C-GET response."""

    status: int
    completed: int
    failed: int
    warning: int

    @property
    def ok(self) -> bool:
        return self.status in (0x0000, 0xB000) and self.failed == 0


def _retrieve_identifier(study_uid: str, series_uid: str = "") -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    ds.StudyInstanceUID = study_uid
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    return ds


def _final(responses: Iterable[tuple[Any, Any]], node: Node, what: str) -> RetrieveResult:
    last = None
    for status, _identifier in responses:
        if not status:
            raise DimseError(
                f"{node}: {what} got no response (connection lost or timed out)", "no_response"
            )
        last = status
    if last is None:
        raise DimseError(f"{node}: {what} got no response", "no_response")
    code = int(last.Status)
    result = RetrieveResult(
        code,
        int(last.get("NumberOfCompletedSuboperations", 0) or 0),
        int(last.get("NumberOfFailedSuboperations", 0) or 0),
        int(last.get("NumberOfWarningSuboperations", 0) or 0),
    )
    if code not in (0x0000, 0xB000):
        raise DimseError(
            f"{node}: {what} failed ({status_text(code)}; {result.completed} done, "
            f"{result.failed} failed)"
        )
    return result


def move(
    node: Node, destination_ae: str, study_uid: str, series_uid: str = "", calling: str = "YIQIAO"
) -> RetrieveResult:
    """C-MOVE a study (or one series) from ``node`` to ``destination_ae`` (usually our SCP,
    which the PACS must know by that AE title)."""
    ae = _ae(calling)
    ae.add_requested_context(STUDY_ROOT_MOVE)
    with _association(ae, node, "C-MOVE") as assoc:
        return _final(
            assoc.send_c_move(
                _retrieve_identifier(study_uid, series_uid),
                destination_ae,
                STUDY_ROOT_MOVE,
            ),
            node,
            "C-MOVE",
        )


def get(
    node: Node,
    study_uid: str,
    store: Callable[[bytes], None],
    series_uid: str = "",
    calling: str = "YIQIAO",
    sop_classes: list[str] | None = None,
) -> RetrieveResult:
    """C-GET a study (or series) over this association; ``store(encoded)`` for each instance
    (raise to refuse one: the PACS is told 0xA700)."""
    from app.dicom_net.contexts import common_storage_sop_classes

    ae = _ae(calling)
    ae.add_requested_context(STUDY_ROOT_GET)
    classes = (sop_classes or common_storage_sop_classes())[: MAX_CONTEXTS - 1]
    roles = []
    for sop_class in classes:
        ae.add_requested_context(sop_class, ACCEPTED_SYNTAXES[:6])
        roles.append(build_role(sop_class, scp_role=True))

    def on_store(event: Any) -> int:
        try:
            store(event.encoded_dataset())
        except Exception as exc:  # noqa: BLE001 - report the refusal to the PACS
            log.warning("C-GET instance not kept: %s", exc)
            return 0xA700
        return 0x0000

    with _association(
        ae, node, "C-GET", ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    ) as assoc:
        return _final(
            assoc.send_c_get(
                _retrieve_identifier(study_uid, series_uid),
                STUDY_ROOT_GET,
            ),
            node,
            "C-GET",
        )
