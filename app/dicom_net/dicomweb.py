"""DICOMweb against a PACS that exposes it: QIDO-RS search, WADO-RS retrieve, STOW-RS store,
through dicomweb-client on a ``requests`` session (TLS verified, proxy as configured).

Errors come back as ``DicomWebError`` naming the server and the HTTP status. Blocking: call
from a worker thread.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

import pydicom
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from app.dicom_net.scu import Query, value_text


class DicomWebError(RuntimeError):
    """A DICOMweb request failed (the message names the server and the reason).

    ``kind``: unreachable, http (``status`` set), bad_reply.
    """

    def __init__(self, message: str, kind: str = "http", status: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


def _rows(results: list[dict]) -> list[dict[str, str]]:
    out = []
    for item in results:
        ds = Dataset.from_json(item)
        out.append({e.keyword: value_text(e.value) for e in ds if e.keyword and e.VR != "SQ"})
    return out


class DicomWeb:
    """One DICOMweb service root, e.g. ``https://pacs.example/dicom-web``."""

    def __init__(self, url: str, session: requests.Session | None = None, timeout: float = 60):
        from dicomweb_client.api import DICOMwebClient

        self.url = url.rstrip("/")
        self._client = DICOMwebClient(self.url, session=session, timeout=timeout)

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            raise DicomWebError(
                f"{self.url}: {what} failed with HTTP {code}", "http", code
            ) from exc
        except requests.RequestException as exc:
            raise DicomWebError(
                f"{self.url}: {what}: cannot reach the server ({exc})", "unreachable"
            ) from exc
        except ValueError as exc:  # a reply that is not DICOM JSON / multipart
            raise DicomWebError(
                f"{self.url}: {what}: the server's reply is unusable ({exc})"
            ) from exc

    def search_studies(self, query: Query, limit: int = 500) -> list[dict[str, str]]:
        """QIDO-RS /studies with the same criteria as C-FIND."""
        filters: dict[str, str] = {}
        if query.patient_id:
            filters["PatientID"] = query.patient_id
        if query.patient_name:
            name = query.patient_name
            filters["PatientName"] = name if "*" in name else name + "*"
        if query.date:
            filters["StudyDate"] = query.date
        if query.modality:
            filters["ModalitiesInStudy"] = query.modality
        if query.study_uid:
            filters["StudyInstanceUID"] = query.study_uid
        if query.accession:
            filters["AccessionNumber"] = query.accession
        fields = ["PatientName", "PatientID", "StudyDate", "StudyDescription", "ModalitiesInStudy"]
        return _rows(
            self._call(
                "QIDO-RS study search",
                lambda: self._client.search_for_studies(
                    search_filters=filters, limit=limit, fields=fields
                ),
            )
        )

    def search_series(self, study_uid: str) -> list[dict[str, str]]:
        """QIDO-RS /studies/{uid}/series."""
        return _rows(
            self._call(
                "QIDO-RS series search",
                lambda: self._client.search_for_series(study_instance_uid=study_uid),
            )
        )

    def retrieve_study(
        self, study_uid: str, store: Callable[[bytes], None], series_uid: str = ""
    ) -> int:
        """WADO-RS: each instance (as the server sends it) to ``store(encoded)``; the count."""

        def run() -> int:
            if series_uid:
                it = self._client.iter_series(study_uid, series_uid)
            else:
                it = self._client.iter_study(study_uid)
            count = 0
            for ds in it:
                store(encode(ds))
                count += 1
            return count

        return self._call("WADO-RS retrieve", run)

    def store(self, datasets: Iterable[Dataset]) -> tuple[int, list[str]]:
        """STOW-RS; returns (stored count, reasons of failed instances)."""
        items = list(datasets)
        reply = self._call("STOW-RS store", lambda: self._client.store_instances(items))
        failed = [
            f"{item.get('ReferencedSOPInstanceUID', '?')}: 0x{int(item.get('FailureReason', 0)):04X}"
            for item in reply.get("FailedSOPSequence", [])
        ]
        stored = len(reply.get("ReferencedSOPSequence", []))
        return stored, failed


def encode(ds: Dataset) -> bytes:
    """A dataset as a DICOM file in memory (file meta filled in when missing)."""
    if not getattr(ds, "file_meta", None) or "TransferSyntaxUID" not in ds.file_meta:
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()
