"""DICOM TLS against DCMTK: storescu/echoscu +tls to our receiver (which then takes only
senders with a certificate from the hospital CA, and no plain connections), and our C-ECHO
and send to DCMTK's storescp +tls."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from app.dicom_net.inbox import Inbox
from app.dicom_net.nodes import LocalNode, Node
from app.dicom_net.receiver import ReceiverError, StorageReceiver
from app.dicom_net.scu import DimseError, Outgoing, echo, send
from tests.dicom_net.conftest import free_port, need, wait_until
from tests.packaging.tls_hub import TlsFiles, make_tls_files
from tests.support.ct_phantom import PhantomSpec, write_phantom


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def _storescu_tls(tls: TlsFiles, port: int, files: list[Path]) -> None:
    """DCMTK's storescu sends ``files`` to our receiver over TLS, as a modality would: its
    certificate comes from the hospital CA (here: the same test CA)."""
    sent = subprocess.run(
        ["storescu", "+tls", str(tls.server_key), str(tls.server_cert),
         "+cf", str(tls.ca_cert), "-aec", "YIQIAO", "127.0.0.1", str(port),
         *map(str, files)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr


def test_storescu_over_tls_to_our_receiver_and_plain_is_refused(
    inbox: Inbox, tmp_path: Path, tls: TlsFiles
) -> None:
    need("storescu")
    node = LocalNode(ae_title="YIQIAO", port=0, bind_address="127.0.0.1",
                     tls_cert=str(tls.server_cert), tls_key=str(tls.server_key),
                     tls_client_ca=str(tls.ca_cert))  # fmt: skip
    receiver = StorageReceiver(node, inbox)
    port = receiver.start()
    try:
        files = write_phantom(tmp_path / "src", PhantomSpec(size=32, slices=3, patient_id="TLS-1"))
        _storescu_tls(tls, port, files)
        wait_until(lambda: sum(s.instance_count for s in inbox.studies()) == 3, what="3 stored")
        [study] = inbox.studies()
        got = {r.sop_uid: inbox.read(r.sha256) for r in inbox.instances(study.study_uid)}
        for f in files:
            ds = pydicom.dcmread(f)
            back = pydicom.dcmread(io.BytesIO(got[str(ds.SOPInstanceUID)]))
            assert np.array_equal(back.pixel_array, ds.pixel_array)

        plain = write_phantom(tmp_path / "plain", PhantomSpec(size=32, slices=1, patient_id="NO"))
        refused = subprocess.run(
            ["storescu", "-aec", "YIQIAO", "127.0.0.1", str(port), *map(str, plain)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert refused.returncode != 0
        assert sum(s.instance_count for s in inbox.studies()) == 3
    finally:
        receiver.stop()


def test_our_echo_and_send_to_storescp_over_tls(tmp_path: Path, tls: TlsFiles) -> None:
    need("storescp")
    port = free_port()
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        ["storescp", "+tls", str(tls.server_key), str(tls.server_cert), "+cf", str(tls.ca_cert),
         "-aet", "COUNTY_PACS", "-od", str(out), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        pacs = Node("COUNTY_PACS", "127.0.0.1", port, tls=True, ca_file=str(tls.ca_cert),
                    cert_file=str(tls.server_cert), key_file=str(tls.server_key))  # fmt: skip
        wait_until(lambda: _echo_ok(pacs), what="storescp +tls answers C-ECHO")
        files = write_phantom(tmp_path / "src", PhantomSpec(size=32, slices=2, patient_id="T-2"))
        results = send(pacs, [Outgoing(str(p), p.read_bytes) for p in files])
        assert [r.status for r in results] == [0, 0]
        assert len(list(out.iterdir())) == 2
        # Without the hospital CA our side refuses the PACS's certificate: nothing is sent.
        untrusted = Node("COUNTY_PACS", "127.0.0.1", port, tls=True)
        with pytest.raises(DimseError):
            echo(untrusted)
    finally:
        proc.terminate()
        proc.wait(10)


def _echo_ok(node: Node) -> bool:
    try:
        return echo(node) == 0
    except DimseError:
        return False


def test_a_missing_key_file_is_named(inbox: Inbox, tmp_path: Path, tls: TlsFiles) -> None:
    node = LocalNode(port=0, bind_address="127.0.0.1", tls_cert=str(tls.server_cert),
                     tls_key=str(tmp_path / "gone.pem"))  # fmt: skip
    with pytest.raises(ReceiverError, match="private key file .*gone.pem"):
        StorageReceiver(node, inbox).start()


def _encrypted_copy(key: Path, passphrase: bytes, target: Path) -> Path:
    """The key as IT deploys it: PKCS#8 under a passphrase."""
    from cryptography.hazmat.primitives import serialization

    plain = serialization.load_pem_private_key(key.read_bytes(), None)
    target.write_bytes(
        plain.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    )
    return target


def _tls_passphrase(monkeypatch: pytest.MonkeyPatch, capsys, line: str) -> tuple[int, str]:
    from app.dicom_net.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(line + "\n"))
    code = main(["tls-passphrase"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_an_encrypted_key_opens_only_with_the_passphrase_in_the_keyring(
    inbox: Inbox, tmp_path: Path, tls: TlsFiles, policy_file: Path, monkeypatch, capsys
) -> None:
    """IT deploys the receiver's key encrypted and stores its passphrase in the OS keyring
    (a wrong one is refused before it is stored); the receiver then takes DCMTK's TLS
    sender, and without the passphrase it says which key cannot be opened — it never asks
    on a terminal. The self-check warns about a plain key."""
    from app.config import load_settings
    from app.dicom_net.nodes import local_node, with_key_passphrase
    from app.dicom_net.tls import KEY_PASSPHRASE_SECRET
    from app.selfcheck import check_dicom_network

    need("storescu")
    key = _encrypted_copy(tls.server_key, "县医院-影像 2026".encode(), tmp_path / "key.enc.pem")

    def use_key(path: Path) -> None:
        policy_file.write_text(
            f"dicom_tls_cert = {str(tls.server_cert)!r}\ndicom_tls_key = {str(path)!r}\n"
            "dicom_port = 0\ndicom_bind_address = '127.0.0.1'\n",
            "utf-8",
        )

    def key_check() -> object:
        return {c.name: c for c in check_dicom_network(load_settings(registry={}))}[
            "TLS private key"
        ]

    use_key(tls.server_key)
    assert key_check().state == "WARN" and "not encrypted" in key_check().detail
    use_key(key)
    code, said = _tls_passphrase(monkeypatch, capsys, "wrong")
    assert code == 2 and "does not open the private key" in said
    from app import credentials

    assert credentials.get_secret(KEY_PASSPHRASE_SECRET) is None  # a typo is not stored
    node = with_key_passphrase(local_node(load_settings(registry={})))
    with pytest.raises(ReceiverError, match="key.enc.pem.*encrypted.*no passphrase"):
        StorageReceiver(node, inbox).start()
    assert key_check().state == "FAIL"

    code, said = _tls_passphrase(monkeypatch, capsys, "县医院-影像 2026")
    assert code == 0, said
    assert key_check().state == "PASS"
    node = with_key_passphrase(local_node(load_settings(registry={})))
    assert "县医院" not in repr(node)  # never in a log line
    receiver = StorageReceiver(node, inbox)
    port = receiver.start()
    try:
        files = write_phantom(tmp_path / "src", PhantomSpec(size=32, slices=1, patient_id="ENC"))
        _storescu_tls(tls, port, files)
        wait_until(lambda: sum(s.instance_count for s in inbox.studies()) == 1, what="stored")
    finally:
        receiver.stop()
