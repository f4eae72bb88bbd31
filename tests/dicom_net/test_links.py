"""Matching received studies to registry patients and attaching them to a consultation."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom

from app.dicom_net.inbox import Inbox
from app.dicom_net.links import (
    PURPOSE_PRIOR,
    attach_study,
    auto_match,
    candidates,
    registry_patients,
)
from app.protocol.sync import DocType
from app.sync.blobstore import BlobStore
from app.sync.cache import open_cache
from app.sync.store import RecordStore
from tests.support.ct_phantom import PhantomSpec, write_phantom


def _session(tmp_path: Path) -> SimpleNamespace:
    cache = open_cache(tmp_path / "cache.db", b"k" * 32)
    return SimpleNamespace(
        profile="doctor-abc",
        store=RecordStore(cache, "u1", "f1"),
        blobs=BlobStore(tmp_path / "blobs", b"b" * 32, cache, 1 << 30),
    )


def _receive(inbox: Inbox, folder: Path, pid: str, name: str, slices: int = 2) -> list[Path]:
    files = write_phantom(folder, PhantomSpec(size=32, slices=slices, patient_id=pid,
                                              patient_name=name))  # fmt: skip
    for f in files:
        inbox.add_instance(f.read_bytes(), "CT@10.0.0.9")
    return files


def test_study_matches_by_patient_id_and_unmatched_ones_wait_for_a_click(
    inbox: Inbox, tmp_path: Path
) -> None:
    session = _session(tmp_path)
    wang = session.store.create(DocType.patient, {"name": "王秀英", "patient_number": "PH-7"})
    li = session.store.create(DocType.patient, {"name": "李四", "patient_number": "PH-8"})
    known = _receive(inbox, tmp_path / "a", "PH-7", "Wang^Xiuying=王^秀英")
    stranger = _receive(inbox, tmp_path / "b", "OUTSIDE-1", "Li^Si=李^四")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in known + stranger}
    stored_before = {
        r.sop_uid: r.sha256 for s in inbox.studies() for r in inbox.instances(s.study_uid)
    }

    patients = registry_patients(session.store)
    matched = auto_match(inbox, session.profile, patients)
    known_uid = str(pydicom.dcmread(known[0]).StudyInstanceUID)
    stranger_uid = str(pydicom.dcmread(stranger[0]).StudyInstanceUID)
    assert matched == [known_uid]
    rows = {s.study_uid: s for s in inbox.studies(session.profile)}
    assert rows[known_uid].matched_doc_id == wang.id and rows[known_uid].matched_how == "patient_id"
    assert rows[stranger_uid].matched_doc_id == ""
    # Another user's profile sees no matches of this one.
    assert all(not s.matched_doc_id for s in inbox.studies("someone-else"))

    # The one-click match: the same-name patient is offered first.
    offered = candidates(rows[stranger_uid], patients)
    assert offered[0].doc_id == li.id
    inbox.set_match(stranger_uid, session.profile, li.id, "李四")
    assert inbox.study(stranger_uid, session.profile).matched_doc_id == li.id
    # Nothing received was rewritten: same stored blobs, same DICOM PatientID.
    after = {r.sop_uid: r.sha256 for s in inbox.studies() for r in inbox.instances(s.study_uid)}
    assert after == stored_before
    row = inbox.instances(stranger_uid)[0]
    assert str(pydicom.dcmread(io.BytesIO(inbox.read(row.sha256))).PatientID) == "OUTSIDE-1"
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in known + stranger}


def test_attach_study_to_a_consultation_as_priors(inbox: Inbox, tmp_path: Path) -> None:
    session = _session(tmp_path)
    patient = session.store.create(DocType.patient, {"name": "王秀英", "patient_number": "PH-7"})
    consult = session.store.create(
        DocType.consultation, {"reason": "chest pain"}, patient_id=patient.id
    )
    files = _receive(inbox, tmp_path / "a", "PH-7", "Wang^Xiuying", slices=3)
    study_uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    doc = attach_study(inbox, session, study_uid, patient.id, consult.id, PURPOSE_PRIOR)
    assert doc.consultation_id == consult.id and doc.patient_id == patient.id
    assert doc.fields["purpose"] == "prior" and doc.fields["source"] == "dicom_network"
    assert doc.fields["study_uid"] == study_uid
    [series] = doc.fields["series"]
    assert len(series["instances"]) == 3
    sent = {str((d := pydicom.dcmread(f)).SOPInstanceUID): d.pixel_array for f in files}
    for inst in series["instances"]:
        ds = pydicom.dcmread(io.BytesIO(session.blobs.read_bytes(inst["sha256"])))
        assert np.array_equal(ds.pixel_array, sent[inst["sop_uid"]])
