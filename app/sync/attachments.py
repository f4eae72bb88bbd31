"""Turn files the user picks into an attachment record: blobs in the encrypted store (DICOM in
its lossless transfer form) and a manifest (study → series → instances for DICOM)."""

from __future__ import annotations

import io
import mimetypes
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pydicom

from app.protocol.sync import DocType
from app.sync.blobstore import BlobStore
from app.sync.dicom_transfer import for_transfer, is_dicom
from app.sync.store import LocalDoc, RecordStore

_KIND_BY_SUFFIX = {".pdf": "pdf", ".jpg": "photo", ".jpeg": "photo", ".png": "photo", ".xml": "ecg"}


def _kind(path: Path, data: bytes) -> str:
    if is_dicom(data):
        return "dicom"
    return _KIND_BY_SUFFIX.get(path.suffix.lower(), "file")


def attach_files(
    store: RecordStore,
    blobs: BlobStore,
    paths: list[Path],
    patient_id: str,
    consultation_id: str | None = None,
    title: str = "",
    kind: str | None = None,
) -> LocalDoc:
    """Store ``paths`` (never modified) and create one attachment record naming them
    (``kind`` forces photo/ecg/consent/… for non-DICOM files; otherwise it is guessed)."""
    return attach_items(
        store,
        blobs,
        [(path.name, path.read_bytes) for path in paths],
        patient_id,
        consultation_id,
        title or (paths[0].name if paths else ""),
        kind=kind,
    )


def attach_items(
    store: RecordStore,
    blobs: BlobStore,
    items: Sequence[tuple[str, Callable[[], bytes]]],
    patient_id: str,
    consultation_id: str | None = None,
    title: str = "",
    extra_fields: dict[str, Any] | None = None,
    kind: str | None = None,
) -> LocalDoc:
    """Like ``attach_files`` for (name, loader) pairs: data that never sits in a plain file
    (e.g. a study from the encrypted DICOM inbox). One item is in memory at a time."""
    entries: list[dict[str, Any]] = []
    series: dict[str, dict[str, Any]] = {}
    study_uid = ""
    kinds: set[str] = set()
    for name, load in items:
        data = load()
        found = _kind(Path(name), data)
        kinds.add(found)
        if found == "dicom":
            form = for_transfer(data)
            sha = blobs.add_bytes(form.data, "application/dicom")
            ds = pydicom.dcmread(io.BytesIO(form.data), stop_before_pixels=True)
            study_uid = study_uid or str(ds.get("StudyInstanceUID", ""))
            s = series.setdefault(
                str(ds.get("SeriesInstanceUID", "")),
                {
                    "series_uid": str(ds.get("SeriesInstanceUID", "")),
                    "modality": str(ds.get("Modality", "")),
                    "instances": [],
                },
            )
            s["instances"].append(
                {
                    "sop_uid": str(ds.get("SOPInstanceUID", "")),
                    "number": int(ds.get("InstanceNumber", 0) or 0),
                    "sha256": sha,
                }
            )
            entries.append(
                {
                    "sha256": sha,
                    "name": name,
                    "media_type": "application/dicom",
                    "size": len(form.data),
                    "kind": "dicom",
                    "original_size": form.original_size,
                    "transfer_syntax": form.transfer_syntax,
                }
            )
        else:
            media = mimetypes.guess_type(name)[0] or "application/octet-stream"
            sha = blobs.add_bytes(data, media)
            entries.append(
                {
                    "sha256": sha,
                    "name": name,
                    "media_type": media,
                    "size": len(data),
                    "kind": kind if kind and kind != "dicom" else found,
                }
            )
    guessed = kinds.pop() if len(kinds) == 1 else "file"
    fields: dict[str, Any] = {
        "kind": kind or guessed,
        "name": items[0][0] if len(items) == 1 else "",
        "title": title or (items[0][0] if items else ""),
        "blobs": entries,
        **(extra_fields or {}),
    }
    if series:
        fields["study_uid"] = study_uid
        fields["series"] = list(series.values())
    return store.create(
        DocType.attachment, fields, patient_id=patient_id, consultation_id=consultation_id
    )
