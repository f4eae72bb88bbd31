"""Our Storage SCP against DCMTK's echoscu, storescu, findscu and getscu (real peers)."""

from __future__ import annotations

import errno
import io
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from app.dicom_net.inbox import Inbox
from app.dicom_net.nodes import LocalNode, Node
from app.dicom_net.receiver import StorageReceiver
from app.dicom_net.scu import Outgoing, send
from app.sync.blobstore import BlobStore
from tests.dicom_net.conftest import free_port, need, wait_until
from tests.support.ct_phantom import PhantomSpec, write_phantom


def _pixels(data: bytes | Path) -> np.ndarray:
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    return pydicom.dcmread(src).pixel_array


def _by_sop(inbox: Inbox) -> dict[str, bytes]:
    out = {}
    for study in inbox.studies():
        for row in inbox.instances(study.study_uid):
            out[row.sop_uid] = inbox.read(row.sha256)
    return out


def _storescu(port: int, files: list[Path], *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["storescu", *options, "-aec", "YIQIAO", "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_echoscu_answers_and_a_caller_not_allowed_is_refused(
    receiver: StorageReceiver, inbox: Inbox
) -> None:
    need("echoscu")
    ok = subprocess.run(["echoscu", "-aec", "YIQIAO", "127.0.0.1", str(receiver.port)])
    assert ok.returncode == 0

    strict = StorageReceiver(
        LocalNode(port=0, bind_address="127.0.0.1", allowed_ae_titles=("CT_CONSOLE",)), inbox
    )
    port = strict.start()
    try:
        refused = subprocess.run(
            ["echoscu", "-aet", "STRANGER", "-aec", "YIQIAO", "127.0.0.1", str(port)],
            capture_output=True,
            text=True,
        )
        allowed = subprocess.run(
            ["echoscu", "-aet", "CT_CONSOLE", "-aec", "YIQIAO", "127.0.0.1", str(port)]
        )
    finally:
        strict.stop()
    assert refused.returncode != 0
    assert "Rejected" in refused.stderr or "reject" in refused.stderr.lower()
    assert allowed.returncode == 0
    assert any(t.state == "rejected" for t in strict.activity.snapshot().recent)


@pytest.mark.parametrize(
    "syntax, option",
    [
        (ExplicitVRLittleEndian, "-xe"),
        (ImplicitVRLittleEndian, "-xi"),
        (RLELossless, "-xr"),
        (JPEGLSLossless, "-xt"),
        (JPEGLosslessSV1, "-xs"),
        (JPEG2000Lossless, "-xv"),
    ],
)
def test_storescu_transfer_syntaxes_arrive_pixel_identical(
    receiver: StorageReceiver, inbox: Inbox, tmp_path: Path, syntax: str, option: str
) -> None:
    need("storescu")
    spec = PhantomSpec(size=64, slices=3, patient_id="TS-1")
    written = write_phantom(tmp_path / "src", spec)
    for f in written:  # re-encode with whichever plugin pydicom has for the syntax
        ds = pydicom.dcmread(f)
        if syntax == ImplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
            ds.save_as(f, implicit_vr=True, little_endian=True, enforce_file_format=True)
        elif syntax == JPEGLosslessSV1:  # pydicom has no JPEG lossless encoder: DCMTK's
            need("dcmcjpeg")
            subprocess.run(["dcmcjpeg", str(f), str(f)], check=True)
        elif syntax != ExplicitVRLittleEndian:
            ds.compress(syntax)
            ds.save_as(f, enforce_file_format=True)
    result = _storescu(receiver.port, written, option)
    assert result.returncode == 0, result.stderr
    got = _by_sop(inbox)
    assert len(got) == 3
    for f in written:
        sent = pydicom.dcmread(f)
        data = got[str(sent.SOPInstanceUID)]
        received = pydicom.dcmread(io.BytesIO(data))
        assert str(received.file_meta.TransferSyntaxUID) == str(syntax)
        assert np.array_equal(received.pixel_array, sent.pixel_array)
    rows = inbox.instances(inbox.studies()[0].study_uid)
    assert {r.transfer_syntax for r in rows} == {str(syntax)}


def test_a_300_slice_series_is_kept_whole_and_encrypted(
    receiver: StorageReceiver, inbox: Inbox, tmp_path: Path
) -> None:
    need("storescu")
    spec = PhantomSpec(size=64, slices=300, patient_id="SER-300")
    files = write_phantom(tmp_path / "src", spec)
    result = _storescu(receiver.port, files)
    assert result.returncode == 0, result.stderr
    [study] = inbox.studies()
    assert (study.patient_id, study.instance_count, study.series_count) == ("SER-300", 300, 1)
    assert study.modalities == "CT"
    got = _by_sop(inbox)
    for f in files[::37]:
        sent = pydicom.dcmread(f)
        assert np.array_equal(_pixels(got[str(sent.SOPInstanceUID)]), sent.pixel_array)
    # Nothing readable on disk: the patient's name never appears in the inbox folder.
    needle = b"SER-300"
    for path in inbox.folder.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path
    snap = receiver.activity.snapshot()
    assert snap.total_received == 300 and not snap.active
    assert snap.recent[0].state == "done" and snap.recent[0].received == 300


def test_storescu_killed_midway_keeps_what_arrived_whole(
    receiver: StorageReceiver, inbox: Inbox, tmp_path: Path
) -> None:
    need("storescu")
    files = write_phantom(tmp_path / "src", PhantomSpec(size=128, slices=200, patient_id="ABRT"))
    proc = subprocess.Popen(
        ["storescu", "-aec", "YIQIAO", "127.0.0.1", str(receiver.port), *map(str, files)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: receiver.activity.snapshot().total_received >= 10 or proc.poll() is not None,
            what="the first instances",
        )
    finally:
        proc.kill()
        proc.wait()
    wait_until(lambda: not receiver.activity.snapshot().active, what="the association to end")
    got = _by_sop(inbox)
    assert 10 <= len(got) <= 200
    sent = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): f for f in files}
    for sop, data in got.items():
        assert np.array_equal(_pixels(data), _pixels(sent[sop]))  # every listed one is whole
    if len(got) < 200:
        assert receiver.activity.snapshot().recent[0].state == "aborted"


def test_malformed_dataset_gets_a_failure_status_and_is_not_listed(
    receiver: StorageReceiver, inbox: Inbox, tmp_path: Path
) -> None:
    good = write_phantom(tmp_path / "src", PhantomSpec(size=32, slices=2, patient_id="BAD"))
    broken = pydicom.dcmread(good[1])
    broken.PixelData = broken.PixelData[:100]  # far too short for 32×32×16 bit
    broken.SOPInstanceUID = pydicom.uid.generate_uid()
    broken_path = tmp_path / "broken.dcm"
    broken.save_as(broken_path)
    node = Node("YIQIAO", "127.0.0.1", receiver.port)
    results = send(node, [Outgoing(str(p), p.read_bytes) for p in (good[0], broken_path)])
    assert results[0].status == 0
    assert results[1].status == 0xC000 and not results[1].ok
    assert list(_by_sop(inbox)) == [str(pydicom.dcmread(good[0]).SOPInstanceUID)]
    assert "pixel data" in receiver.activity.snapshot().recent[0].last_error


def test_full_disk_answers_out_of_resources_and_keeps_earlier_instances(
    receiver: StorageReceiver, inbox: Inbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_phantom(tmp_path / "src", PhantomSpec(size=32, slices=5, patient_id="FULL"))
    real_write = BlobStore.write_bytes
    calls = {"n": 0}

    def filling_disk(self: BlobStore, data: bytes) -> str:
        calls["n"] += 1
        if calls["n"] > 3:  # the disk fills up after three instances
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(BlobStore, "write_bytes", filling_disk)
    node = Node("YIQIAO", "127.0.0.1", receiver.port)
    results = send(node, [Outgoing(str(p), p.read_bytes) for p in files])
    assert [r.status for r in results] == [0, 0, 0, 0xA700, 0xA700]
    assert len(_by_sop(inbox)) == 3
    assert receiver.activity.snapshot().recent[0].last_error == "disk full"


def test_findscu_and_getscu_against_our_inbox(
    receiver: StorageReceiver, inbox: Inbox, tmp_path: Path
) -> None:
    need("findscu")
    need("getscu")
    files = write_phantom(tmp_path / "src", PhantomSpec(size=32, slices=4, patient_id="Q-77"))
    assert _storescu(receiver.port, files).returncode == 0
    study_uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    out = tmp_path / "find"
    out.mkdir()
    found = subprocess.run(
        ["findscu", "-S", "-aec", "YIQIAO", "-X", "-od", str(out),
         "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=Q-77", "-k", "PatientName",
         "-k", "StudyInstanceUID", "-k", "ModalitiesInStudy",
         "127.0.0.1", str(receiver.port)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    answers = [pydicom.dcmread(p) for p in sorted(out.iterdir())]
    assert [str(a.StudyInstanceUID) for a in answers] == [study_uid]
    assert str(answers[0].ModalitiesInStudy) == "CT"
    fetched = tmp_path / "get"
    fetched.mkdir()
    got = subprocess.run(
        ["getscu", "-S", "-aec", "YIQIAO", "-od", str(fetched),
         "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
         "127.0.0.1", str(receiver.port)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    retrieved = {str(pydicom.dcmread(p).SOPInstanceUID): p for p in fetched.iterdir()}
    assert len(retrieved) == 4
    for f in files:
        sent = pydicom.dcmread(f)
        assert np.array_equal(_pixels(retrieved[str(sent.SOPInstanceUID)]), sent.pixel_array)


def test_movescu_moves_from_our_inbox_to_a_listed_destination_only(
    inbox: Inbox, tmp_path: Path
) -> None:
    need("movescu")
    files = write_phantom(tmp_path / "src", PhantomSpec(size=32, slices=3, patient_id="MV-1"))
    for f in files:
        inbox.add_instance(f.read_bytes(), "CT@10.0.0.2")
    study_uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    dest_port = free_port()
    node = LocalNode(
        ae_title="YIQIAO",
        port=0,
        bind_address="127.0.0.1",
        move_destinations=(Node("VIEWER", "127.0.0.1", dest_port),),
    )
    server = StorageReceiver(node, inbox)
    port = server.start()
    try:

        def movescu(dest: str, out: Path) -> subprocess.CompletedProcess:
            out.mkdir()
            # movescu is its own move destination here: it listens on dest_port as VIEWER.
            return subprocess.run(
                ["movescu", "-v", "-S", "-aet", "VIEWER", "-aem", dest, "--port", str(dest_port),
                 "-od", str(out), "-aec", "YIQIAO",
                 "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
                 "127.0.0.1", str(port)],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip

        moved = movescu("VIEWER", tmp_path / "moved")
        assert moved.returncode == 0, moved.stderr
        arrived = {
            str(pydicom.dcmread(p).SOPInstanceUID): p for p in (tmp_path / "moved").iterdir()
        }
        assert len(arrived) == 3
        for f in files:
            sent = pydicom.dcmread(f)
            assert np.array_equal(_pixels(arrived[str(sent.SOPInstanceUID)]), sent.pixel_array)

        refused = movescu("STRANGER", tmp_path / "refused")
        assert not list((tmp_path / "refused").iterdir())
        assert "Refused: MoveDestinationUnknown" in refused.stdout + refused.stderr
    finally:
        server.stop()


def test_a_move_to_a_tls_destination_goes_over_dicom_tls(
    inbox: Inbox, tmp_path: Path, policy_file: Path
) -> None:
    """IT turns on dicom_move_tls: what movescu asks us to move reaches DCMTK's storescp
    +tls, our side verifying its certificate with the hospital CA (ca_bundle)."""
    from app.config import load_settings
    from app.dicom_net.nodes import local_node, with_key_passphrase
    from tests.packaging.tls_hub import make_tls_files

    need("movescu")
    need("storescp")
    tls = make_tls_files(tmp_path / "tls")
    files = write_phantom(tmp_path / "src", PhantomSpec(size=32, slices=2, patient_id="MV-TLS"))
    for f in files:
        inbox.add_instance(f.read_bytes(), "CT@10.0.0.2")
    study_uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    dest_port = free_port()
    out = tmp_path / "reading-room"
    out.mkdir()
    policy_file.write_text(
        f"dicom_move_destinations = 'VIEWER@127.0.0.1:{dest_port}'\ndicom_move_tls = true\n"
        f"ca_bundle = {str(tls.ca_cert)!r}\ndicom_tls_cert = {str(tls.server_cert)!r}\n"
        f"dicom_tls_key = {str(tls.server_key)!r}\n",
        "utf-8",
    )
    node = with_key_passphrase(local_node(load_settings(registry={})))
    assert node.move_destinations[0].tls
    storescp = subprocess.Popen(
        ["storescp", "+tls", str(tls.server_key), str(tls.server_cert), "+cf", str(tls.ca_cert),
         "-aet", "VIEWER", "-od", str(out), str(dest_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    server = StorageReceiver(replace(node, port=0, bind_address="127.0.0.1", tls_cert="",
                                     tls_key=""), inbox)  # fmt: skip
    port = server.start()
    try:
        moved = subprocess.run(
            ["movescu", "-S", "-aet", "ASKER", "-aem", "VIEWER", "-aec", "YIQIAO",
             "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
             "127.0.0.1", str(port)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert moved.returncode == 0, moved.stderr
        wait_until(lambda: len(list(out.iterdir())) == 2, what="2 instances at the TLS viewer")
    finally:
        server.stop()
        storescp.terminate()
        storescp.wait(10)
