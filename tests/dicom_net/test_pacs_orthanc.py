"""Orthanc as the hospital PACS: we store to it, query it and retrieve from it over DIMSE
(C-STORE, C-FIND, C-MOVE to our receiver, C-GET) and DICOMweb (STOW, QIDO, WADO)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless

from app.dicom_net.dicomweb import DicomWeb, DicomWebError
from app.dicom_net.inbox import Inbox
from app.dicom_net.receiver import StorageReceiver
from app.dicom_net.scu import DimseError, Outgoing, Query, echo, find, get, move, send
from app.dicom_viewer.anonymize import Anonymizer
from tests.dicom_net.conftest import Orthanc, wait_until
from tests.support.ct_phantom import PhantomSpec, write_phantom

ROOT = Path(__file__).resolve().parents[2]


def _series(folder: Path, pid: str, slices: int = 3, **kw: object) -> list[Path]:
    spec = PhantomSpec(size=32, slices=slices, patient_id=pid, **kw)  # type: ignore[arg-type]
    return write_phantom(folder, spec)


def _send_files(orthanc: Orthanc, files: list[Path], **kw: object) -> list:
    return send(orthanc.dicom, [Outgoing(f.name, f.read_bytes) for f in files], **kw)  # type: ignore[arg-type]


def _pixels_by_sop(files: list[Path]) -> dict[str, np.ndarray]:
    return {str((d := pydicom.dcmread(f)).SOPInstanceUID): d.pixel_array for f in files}


def _inbox_pixels(inbox: Inbox) -> dict[str, np.ndarray]:
    out = {}
    for study in inbox.studies():
        for row in inbox.instances(study.study_uid):
            out[row.sop_uid] = pydicom.dcmread(io.BytesIO(inbox.read(row.sha256))).pixel_array
    return out


def test_echo_and_an_unreachable_pacs_is_named(orthanc: Orthanc) -> None:
    assert echo(orthanc.dicom) == 0
    from app.dicom_net.nodes import Node
    from tests.dicom_net.conftest import free_port

    with pytest.raises(DimseError, match="did not answer|cannot connect"):
        echo(Node("NOBODY", "127.0.0.1", free_port()))


def test_send_with_results_per_instance_then_find_at_study_and_series_level(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    plain = _series(tmp_path / "a", "ORT-1", slices=3)
    j2k = []
    for f in _series(tmp_path / "b", "ORT-1", slices=2):
        ds = pydicom.dcmread(f)
        ds.compress(JPEG2000Lossless)
        ds.save_as(f, enforce_file_format=True)
        j2k.append(f)
    results = _send_files(orthanc, plain + j2k)
    assert [r.ok for r in results] == [True] * 5
    assert {r.transfer_syntax for r in results[3:]} == {str(JPEG2000Lossless)}

    studies = find(orthanc.dicom, Query(patient_id="ORT-1"))
    assert len(studies) == 2  # the two phantom series are two studies
    assert all(s["ModalitiesInStudy"] == "CT" for s in studies)
    assert find(orthanc.dicom, Query(patient_name="Zhang"), "STUDY")
    assert find(orthanc.dicom, Query(patient_id="ORT-1", date="20250101-20251231"))
    assert not find(orthanc.dicom, Query(patient_id="ORT-1", date="19990101-19991231"))
    assert not find(orthanc.dicom, Query(patient_id="ORT-1", modality="MR"))
    study_uid = str(pydicom.dcmread(plain[0]).StudyInstanceUID)
    series = find(orthanc.dicom, Query(study_uid=study_uid), "SERIES")
    assert [(s["Modality"], s["NumberOfSeriesRelatedInstances"]) for s in series] == [("CT", "3")]


def test_anonymised_send_reaches_the_pacs_without_identity(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    files = _series(tmp_path / "s", "SECRET-42", slices=2)
    results = _send_files(orthanc, files, anonymizer=Anonymizer())
    assert all(r.ok for r in results)
    assert not find(orthanc.dicom, Query(patient_id="SECRET-42"))
    sent_uids = {str(pydicom.dcmread(f).SOPInstanceUID) for f in files}
    assert not sent_uids & {r.sop_uid for r in results}  # new UIDs went out
    anon = [s for s in find(orthanc.dicom, Query(patient_name="ANONYMOUS"))]
    assert anon and all(s["PatientID"].startswith("ANON-") for s in anon)
    # The originals are untouched.
    assert str(pydicom.dcmread(files[0]).PatientID) == "SECRET-42"


def test_move_to_our_receiver_and_get_into_the_inbox_pixel_identical(
    orthanc: Orthanc, receiver: StorageReceiver, inbox: Inbox, tmp_path: Path
) -> None:
    files = _series(tmp_path / "m", "MOVE-1", slices=4)
    assert all(r.ok for r in _send_files(orthanc, files))
    study_uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    orthanc.add_modality("yiqiao", "YIQIAO", receiver.port)
    result = move(orthanc.dicom, "YIQIAO", study_uid)
    assert result.ok and result.completed == 4
    wait_until(lambda: len(inbox.instances(study_uid)) == 4, what="moved instances")
    expected = _pixels_by_sop(files)
    got = _inbox_pixels(inbox)
    assert got.keys() == expected.keys()
    assert all(np.array_equal(got[k], expected[k]) for k in expected)

    # C-GET of the same study into a second inbox, over the one association.
    other = Inbox.open(tmp_path / "get-inbox")
    try:
        res = get(orthanc.dicom, study_uid, lambda data: other.add_instance(data, "C-GET"))
        assert res.ok and res.completed == 4
        got = _inbox_pixels(other)
        assert all(np.array_equal(got[k], expected[k]) for k in expected)
    finally:
        other.close()


def test_move_to_an_unknown_destination_fails_clearly(orthanc: Orthanc, tmp_path: Path) -> None:
    files = _series(tmp_path / "u", "MOVE-2", slices=1)
    _send_files(orthanc, files)
    with pytest.raises(DimseError, match="C-MOVE failed"):
        move(orthanc.dicom, "NOT_KNOWN", str(pydicom.dcmread(files[0]).StudyInstanceUID))


def test_dicomweb_stow_qido_wado_round_trip(orthanc: Orthanc, inbox: Inbox, tmp_path: Path) -> None:
    web = DicomWeb(orthanc.dicomweb)
    files = _series(tmp_path / "w", "WEB-7", slices=3)
    stored, failed = web.store(pydicom.dcmread(f) for f in files)
    assert (stored, failed) == (3, [])
    [study] = web.search_studies(Query(patient_id="WEB-7"))
    study_uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    assert study["StudyInstanceUID"] == study_uid
    assert web.search_studies(Query(patient_id="WEB-7", modality="CT"))
    [series] = web.search_series(study_uid)
    assert series["Modality"] == "CT"
    count = web.retrieve_study(study_uid, lambda data: inbox.add_instance(data, "WADO-RS"))
    assert count == 3
    expected = _pixels_by_sop(files)
    got = _inbox_pixels(inbox)
    assert all(np.array_equal(got[k], expected[k]) for k in expected)
    with pytest.raises(DicomWebError, match="HTTP 404|HTTP 400"):
        DicomWeb(orthanc.http + "/no-such-root").search_studies(Query(patient_id="X"))


def test_headless_command_echo_send_find(orthanc: Orthanc, tmp_path: Path) -> None:
    _series(tmp_path / "c", "CLI-3", slices=2)
    pacs = str(orthanc.dicom)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "main.py"), "dicom", *args, "--lang", "en"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )

    r = run("echo", "--pacs", pacs)
    assert r.returncode == 0 and "status 0x0000" in r.stdout, r.stderr
    r = run("send", "--pacs", pacs, str(tmp_path / "c"))
    assert r.returncode == 0 and "sent 2 of 2" in r.stdout, r.stderr
    r = run("find", "--pacs", pacs, "--patient-id", "CLI-3")
    assert r.returncode == 0 and "CLI-3" in r.stdout and "CT" in r.stdout, r.stderr
    r = run("echo", "--pacs", "not a node")
    assert r.returncode == 2 and "AE_TITLE@host:port" in r.stderr
