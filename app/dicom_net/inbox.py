"""The encrypted inbox: every instance that reaches us over the network, as it arrived.

Each instance is one blob in an AES-GCM ``BlobStore`` (no plaintext copy on disk) and one row
in a SQLCipher index (patient → study → series → instance) that the inbox page, the viewer and
our C-FIND/C-GET service read. The index row is written only after the blob is installed
(atomic rename), in one transaction, so a reader never sees a half-written instance.

The inbox belongs to the computer's user, not to a signed-in YiQiao account: a modality may
send while nobody is signed in. Matching a study to a registry patient is a separate record
(``matches``: study UID → patient document, per profile); the DICOM files are never rewritten.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from app import credentials, paths
from app.sync.blobstore import BlobStore
from app.sync.cache import Cache

log = logging.getLogger(__name__)

INBOX_PROFILE = "dicom-inbox"

MIGRATIONS: list[str] = [
    # 1: blobs (the BlobStore's bookkeeping, same shape as the sync cache's), the index, matches.
    """
    CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        media_type TEXT NOT NULL DEFAULT 'application/octet-stream',
        state TEXT NOT NULL,
        present INTEGER NOT NULL DEFAULT 0,
        upload_url TEXT,
        uploaded_bytes INTEGER NOT NULL DEFAULT 0,
        priority INTEGER NOT NULL DEFAULT 0,
        last_access REAL NOT NULL DEFAULT 0,
        error TEXT
    );
    CREATE TABLE studies (
        study_uid TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL DEFAULT '',
        patient_name TEXT NOT NULL DEFAULT '',
        birth_date TEXT NOT NULL DEFAULT '',
        sex TEXT NOT NULL DEFAULT '',
        study_date TEXT NOT NULL DEFAULT '',
        study_time TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        accession TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT '',
        first_received REAL NOT NULL,
        last_received REAL NOT NULL
    );
    CREATE TABLE series (
        series_uid TEXT PRIMARY KEY,
        study_uid TEXT NOT NULL REFERENCES studies(study_uid),
        modality TEXT NOT NULL DEFAULT '',
        number TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX series_study ON series(study_uid);
    CREATE TABLE instances (
        sop_uid TEXT PRIMARY KEY,
        series_uid TEXT NOT NULL REFERENCES series(series_uid),
        study_uid TEXT NOT NULL REFERENCES studies(study_uid),
        sop_class TEXT NOT NULL,
        transfer_syntax TEXT NOT NULL,
        number INTEGER NOT NULL DEFAULT 0,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        received_at REAL NOT NULL,
        source TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX instances_series ON instances(series_uid);
    CREATE INDEX instances_study ON instances(study_uid);
    CREATE TABLE matches (
        study_uid TEXT NOT NULL,
        profile TEXT NOT NULL,
        patient_doc_id TEXT NOT NULL,
        patient_label TEXT NOT NULL DEFAULT '',
        how TEXT NOT NULL,
        matched_at REAL NOT NULL,
        PRIMARY KEY (study_uid, profile)
    );
    """,
]

_NATIVE_LE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
# What the index stores (converted while parsing, so a bad value is the sender's error).
_INDEXED = (
    "SOPInstanceUID",
    "SOPClassUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "InstanceNumber",
)


class MalformedDataset(ValueError):
    """What arrived is not a usable DICOM instance (the reason is in the message)."""


@dataclass(frozen=True)
class StoredInstance:
    """One instance just written: enough for progress and matching."""

    sop_uid: str
    study_uid: str
    series_uid: str
    patient_id: str
    patient_name: str
    size: int
    sha256: str
    duplicate: bool = False


@dataclass(frozen=True)
class StudyRow:
    """A study in the inbox, with its match (for one profile) when there is one."""

    study_uid: str
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    study_date: str
    description: str
    accession: str
    source: str
    modalities: str
    series_count: int
    instance_count: int
    size: int
    last_received: float
    matched_doc_id: str = ""
    matched_label: str = ""
    matched_how: str = ""


@dataclass(frozen=True)
class InstanceRow:
    """One stored instance of a study."""

    sop_uid: str
    series_uid: str
    sop_class: str
    transfer_syntax: str
    number: int
    sha256: str
    size: int


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def parse_instance(data: bytes) -> tuple[Dataset, dict[str, str]]:
    """Read and check an encoded instance (file meta included); MalformedDataset if unusable.

    Returns the header and its indexed values as text (``_INDEXED``, plus ``TransferSyntaxUID``).
    Only the header is parsed, and each value converted once (pixels stay raw bytes: this runs
    for every received slice, and pydicom's conversion is most of its cost); for uncompressed
    images the pixel data element must hold the whole image.
    """
    fp = io.BytesIO(data)
    try:
        ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
        pixel_at = fp.tell()
        # Converted now: a bad value is reported here, as the sender's.
        values = {keyword: _text(ds, keyword) for keyword in _INDEXED}
    except Exception as exc:  # noqa: BLE001 - any parse failure is the sender's problem
        raise MalformedDataset(f"cannot be parsed: {exc}") from exc
    for keyword in ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID"):
        if not values[keyword]:
            raise MalformedDataset(f"has no {keyword}")
    tsyntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    values["TransferSyntaxUID"] = tsyntax
    if tsyntax in _NATIVE_LE and data[pixel_at : pixel_at + 4] == b"\xe0\x7f\x10\x00":
        explicit = tsyntax == "1.2.840.10008.1.2.1"
        head = 12 if explicit else 8
        if len(data) < pixel_at + head:
            raise MalformedDataset("pixel data element is cut off")
        declared = struct.unpack("<I", data[pixel_at + head - 4 : pixel_at + head])[0]
        present = min(declared, len(data) - pixel_at - head)
        try:
            expected = (
                int(ds.Rows)
                * int(ds.Columns)
                * int(ds.get("SamplesPerPixel", 1) or 1)
                * int(ds.get("NumberOfFrames", 1) or 1)
                * int(ds.BitsAllocated)
                + 7
            ) // 8
        except (AttributeError, TypeError, ValueError) as exc:
            raise MalformedDataset(f"has pixel data but no usable image size: {exc}") from exc
        if present < expected:
            raise MalformedDataset(f"pixel data is {present} bytes, the image needs {expected}")
    return ds, values


def inbox_keys() -> tuple[bytes, bytes]:
    """The inbox's index and blob keys from the keyring (created on first use)."""
    return (
        credentials.get_or_create_key(f"cache-key:{INBOX_PROFILE}"),
        credentials.get_or_create_key(f"blob-key:{INBOX_PROFILE}"),
    )


class Inbox:
    """Received instances: encrypted blobs plus their index (thread-safe)."""

    def __init__(self, folder: Path, cache: Cache, blobs: BlobStore) -> None:
        self.folder = folder
        self.cache = cache
        self.blobs = blobs
        self._listeners: list[Any] = []
        self._lock = threading.Lock()

    @classmethod
    def open(cls, folder: Path | None = None, keys: tuple[bytes, bytes] | None = None) -> Inbox:
        """Open (creating) the inbox under the user's data dir.

        ``keys`` (index key, blob key) default to the keyring's (``inbox_keys``); the receiver
        process gets them from its parent instead.
        """
        folder = folder or (paths.user_data_dir() / "dicom-inbox")
        folder.mkdir(parents=True, exist_ok=True)
        index_key, blob_key = keys or inbox_keys()
        cache = Cache(folder / "index.db", index_key, MIGRATIONS)
        # Received studies are never evicted: the budget only applies to blobs a hub holds.
        blobs = BlobStore(folder / "blobs", blob_key, cache, budget_bytes=1 << 62)
        return cls(folder, cache, blobs)

    def close(self) -> None:
        """Checkpoint and close the index."""
        self.cache.close()

    # -- writing ----------------------------------------------------------------------------
    def add_instance(self, data: bytes, source: str = "") -> StoredInstance:
        """Check, encrypt and index one encoded instance (with file meta); durable on return.

        The encrypted blob is the durable copy: one sync makes its content and name durable
        before this returns. The index rows follow in one transaction without a sync of their
        own (WAL, ``synchronous = NORMAL``); if a power cut loses the last of them, the next
        ``open`` re-indexes the blobs that have no row (``recover``). Raises MalformedDataset
        for unusable data and OSError when the disk refuses the write; in both cases nothing
        of this instance is indexed.
        """
        _, v = parse_instance(data)
        sop_uid, study_uid, series_uid = (
            v["SOPInstanceUID"],
            v["StudyInstanceUID"],
            v["SeriesInstanceUID"],
        )
        old = self.cache.query("SELECT sha256 FROM instances WHERE sop_uid = ?", (sop_uid,))
        sha = self.blobs.write_bytes(data)
        now = time.time()
        tsyntax = v["TransferSyntaxUID"]
        try:
            number = int(v["InstanceNumber"] or 0)
        except ValueError:
            number = 0

        def write(db: Any) -> None:
            self.blobs.register_row(db, sha, len(data), "application/dicom")
            db.execute(
                "INSERT INTO studies(study_uid, patient_id, patient_name, birth_date, sex, "
                "study_date, study_time, description, accession, source, first_received, "
                "last_received) VALUES(?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(study_uid) DO "
                "UPDATE SET last_received = excluded.last_received",
                (
                    study_uid,
                    v["PatientID"],
                    v["PatientName"],
                    v["PatientBirthDate"],
                    v["PatientSex"],
                    v["StudyDate"],
                    v["StudyTime"],
                    v["StudyDescription"],
                    v["AccessionNumber"],
                    source,
                    now,
                    now,
                ),
            )
            db.execute(
                "INSERT INTO series(series_uid, study_uid, modality, number, description) "
                "VALUES(?,?,?,?,?) ON CONFLICT(series_uid) DO NOTHING",
                (series_uid, study_uid, v["Modality"], v["SeriesNumber"], v["SeriesDescription"]),
            )
            # A re-sent instance replaces the index entry; the older blob stays in the store.
            db.execute(
                "INSERT INTO instances(sop_uid, series_uid, study_uid, sop_class, "
                "transfer_syntax, number, sha256, size, received_at, source) "
                "VALUES(?,?,?,?,?,?,?,?,?,?) ON CONFLICT(sop_uid) DO UPDATE SET "
                "sha256 = excluded.sha256, size = excluded.size, "
                "transfer_syntax = excluded.transfer_syntax, received_at = excluded.received_at",
                (
                    sop_uid,
                    series_uid,
                    study_uid,
                    v["SOPClassUID"],
                    tsyntax,
                    number,
                    sha,
                    len(data),
                    now,
                    source,
                ),
            )

        with self.cache.transaction() as db:
            write(db)
        stored = StoredInstance(
            sop_uid,
            study_uid,
            series_uid,
            v["PatientID"],
            v["PatientName"],
            len(data),
            sha,
            duplicate=bool(old),
        )
        for listener in list(self._listeners):
            listener(stored)
        return stored

    def recover(self) -> int:
        """Index blobs that have no row (a power cut took the last commits after the blobs
        were synced) and move unreadable ones to ``blobs/damaged``; return how many were
        indexed again. Run by the receiving process when it opens the inbox."""
        import shutil

        root = self.blobs.root
        for leftover in (root / "partial").glob("new-*"):
            # new-<sha>-…: synced, but the rename may have been lost (Windows); else torn.
            sha = leftover.name.split("-")[1]
            final = self.blobs.path(sha)
            if len(sha) == 64 and not final.exists():
                final.parent.mkdir(exist_ok=True)
                os.replace(leftover, final)
            else:
                leftover.unlink(missing_ok=True)
        known = {r[0] for r in self.cache.query("SELECT sha256 FROM instances")}
        recovered = 0
        for sub in sorted(root.iterdir()):
            if len(sub.name) != 2 or not sub.is_dir():
                continue
            for blob in sub.iterdir():
                if blob.name in known:
                    continue
                try:
                    self.add_instance(self.blobs.read_bytes(blob.name), "recovered")
                    recovered += 1
                except Exception as exc:  # noqa: BLE001 - torn or foreign: keep it aside
                    log.warning("DICOM inbox: blob %s set aside: %s", blob.name[:12], exc)
                    (root / "damaged").mkdir(exist_ok=True)
                    shutil.move(str(blob), str(root / "damaged" / blob.name))
        if recovered:
            log.warning("DICOM inbox: %d received instances indexed again", recovered)
        return recovered

    def on_added(self, listener: Any) -> None:
        """Call ``listener(StoredInstance)`` (on the writing thread) after each instance."""
        self._listeners.append(listener)

    # -- matching ---------------------------------------------------------------------------
    def set_match(
        self, study_uid: str, profile: str, patient_doc_id: str, label: str, how: str = "manual"
    ) -> None:
        """Record that ``study_uid`` belongs to a registry patient (the files stay as sent)."""
        with self.cache.transaction() as db:
            db.execute(
                "INSERT INTO matches(study_uid, profile, patient_doc_id, patient_label, how, "
                "matched_at) VALUES(?,?,?,?,?,?) ON CONFLICT(study_uid, profile) DO UPDATE SET "
                "patient_doc_id = excluded.patient_doc_id, patient_label = excluded.patient_label,"
                " how = excluded.how, matched_at = excluded.matched_at",
                (study_uid, profile, patient_doc_id, label, how, time.time()),
            )

    def clear_match(self, study_uid: str, profile: str) -> None:
        """Forget a match (the study returns to the unmatched list)."""
        with self.cache.transaction() as db:
            db.execute(
                "DELETE FROM matches WHERE study_uid = ? AND profile = ?", (study_uid, profile)
            )

    def auto_match(self, profile: str, patients: dict[str, tuple[str, str]]) -> list[str]:
        """Match unmatched studies whose PatientID equals a registry patient number.

        ``patients``: patient number → (document id, label). Returns the matched study UIDs.
        """
        matched: list[str] = []
        for study in self.studies(profile):
            if study.matched_doc_id or not study.patient_id:
                continue
            hit = patients.get(study.patient_id)
            if hit is not None:
                self.set_match(study.study_uid, profile, hit[0], hit[1], "patient_id")
                matched.append(study.study_uid)
        return matched

    # -- reading ----------------------------------------------------------------------------
    def studies(self, profile: str = "") -> list[StudyRow]:
        """Every study, newest first, with ``profile``'s match."""
        rows = self.cache.query(
            "SELECT s.study_uid, s.patient_id, s.patient_name, s.birth_date, s.sex, "
            "s.study_date, s.description, s.accession, s.source, "
            "(SELECT group_concat(DISTINCT modality) FROM series WHERE study_uid = s.study_uid),"
            " (SELECT count(*) FROM series WHERE study_uid = s.study_uid), "
            "count(i.sop_uid), COALESCE(sum(i.size), 0), s.last_received, "
            "m.patient_doc_id, m.patient_label, m.how "
            "FROM studies s LEFT JOIN instances i ON i.study_uid = s.study_uid "
            "LEFT JOIN matches m ON m.study_uid = s.study_uid AND m.profile = ? "
            "GROUP BY s.study_uid ORDER BY s.last_received DESC",
            (profile,),
        )
        return [
            StudyRow(
                study_uid=r[0],
                patient_id=r[1],
                patient_name=r[2],
                birth_date=r[3],
                sex=r[4],
                study_date=r[5],
                description=r[6],
                accession=r[7],
                source=r[8],
                modalities=r[9] or "",
                series_count=r[10],
                instance_count=r[11],
                size=r[12],
                last_received=r[13],
                matched_doc_id=r[14] or "",
                matched_label=r[15] or "",
                matched_how=r[16] or "",
            )
            for r in rows
        ]

    def study(self, study_uid: str, profile: str = "") -> StudyRow | None:
        """One study row, or None."""
        return next((s for s in self.studies(profile) if s.study_uid == study_uid), None)

    def instances(self, study_uid: str, series_uid: str = "") -> list[InstanceRow]:
        """A study's (or one series') instances in instance-number order."""
        sql = (
            "SELECT sop_uid, series_uid, sop_class, transfer_syntax, number, sha256, size "
            "FROM instances WHERE study_uid = ?"
        )
        args: tuple = (study_uid,)
        if series_uid:
            sql += " AND series_uid = ?"
            args += (series_uid,)
        return [
            InstanceRow(*r) for r in self.cache.query(sql + " ORDER BY series_uid, number", args)
        ]

    def read(self, sha256: str) -> bytes:
        """The instance bytes exactly as received (checked against their checksum)."""
        return self.blobs.read_bytes(sha256)

    def datasets(self, study_uid: str, series_uid: str = "") -> Iterator[Dataset]:
        """Decrypted datasets of a study, one at a time (memory stays flat)."""
        for row in self.instances(study_uid, series_uid):
            yield pydicom.dcmread(io.BytesIO(self.read(row.sha256)))

    def query_rows(self, level: str, filters: dict[str, str]) -> list[dict[str, str]]:
        """Rows for our C-FIND SCP: ``level`` STUDY/SERIES/IMAGE, exact or ``*`` filters."""
        studies = {s.study_uid: s for s in self.studies()}
        out: list[dict[str, str]] = []
        for s in studies.values():
            row = {
                "PatientID": s.patient_id,
                "PatientName": s.patient_name,
                "StudyInstanceUID": s.study_uid,
                "StudyDate": s.study_date,
                "StudyDescription": s.description,
                "AccessionNumber": s.accession,
                "ModalitiesInStudy": s.modalities.replace(",", "\\"),
                "NumberOfStudyRelatedInstances": str(s.instance_count),
            }
            if level == "STUDY":
                out.append(row)
                continue
            for series_uid, modality, number, description in self.cache.query(
                "SELECT series_uid, modality, number, description FROM series WHERE study_uid = ?",
                (s.study_uid,),
            ):
                srow = dict(
                    row,
                    SeriesInstanceUID=series_uid,
                    Modality=modality,
                    SeriesNumber=number,
                    SeriesDescription=description,
                )
                if level == "SERIES":
                    out.append(srow)
                    continue
                for inst in self.instances(s.study_uid, series_uid):
                    out.append(
                        dict(srow, SOPInstanceUID=inst.sop_uid, InstanceNumber=str(inst.number))
                    )
        return [r for r in out if _matches(r, filters)]


def _matches(row: dict[str, str], filters: dict[str, str]) -> bool:
    import fnmatch

    for key, wanted in filters.items():
        if not wanted or wanted == "*":
            continue
        have = row.get(key, "")
        if key.endswith("Date") and "-" in wanted:
            lo, _, hi = wanted.partition("-")
            if (lo and have < lo) or (hi and have > hi):
                return False
        elif key == "ModalitiesInStudy":
            if not set(wanted.split("\\")) & set(have.split("\\")):
                return False
        elif "*" in wanted or "?" in wanted:
            if not fnmatch.fnmatchcase(have.upper(), wanted.upper()):
                return False
        elif "\\" in wanted and key.endswith("UID"):
            if have not in wanted.split("\\"):
                return False
        elif have != wanted:
            return False
    return True
