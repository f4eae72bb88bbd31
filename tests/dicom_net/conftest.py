"""Fixtures for DICOM networking: our inbox and receiver on loopback, DCMTK, and a private
Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``) started with its own configuration and
storage folder on free loopback ports — never the system service."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from app.dicom_net.inbox import Inbox
from app.dicom_net.nodes import LocalNode, Node
from app.dicom_net.receiver import StorageReceiver
from tests.support.wait import wait_until as support_wait_until

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def wait_until(condition: Callable[[], object], deadline: float = 60.0, what: str = "") -> None:
    """Poll ``condition`` until true (generous deadline: the machine is shared)."""
    support_wait_until(condition, deadline, what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (apt-get install dcmtk)")


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox.open(tmp_path / "inbox")
    yield box
    box.close()


@pytest.fixture
def receiver(inbox: Inbox) -> Iterator[StorageReceiver]:
    r = StorageReceiver(LocalNode(ae_title="YIQIAO", port=0, bind_address="127.0.0.1"), inbox)
    r.start()
    yield r
    r.stop()


@dataclass
class Orthanc:
    dicom: Node
    http: str

    @property
    def dicomweb(self) -> str:
        return self.http + "/dicom-web"

    def add_modality(self, name: str, ae: str, port: int) -> None:
        """Tell Orthanc where an AE title lives (C-MOVE destinations)."""
        r = requests.put(
            f"{self.http}/modalities/{name}",
            json={"AET": ae, "Host": "127.0.0.1", "Port": port},
            timeout=30,
        )
        r.raise_for_status()

    def instances(self) -> list[str]:
        return requests.get(f"{self.http}/instances", timeout=30).json()

    def clear(self) -> None:
        for pid in requests.get(f"{self.http}/patients", timeout=30).json():
            requests.delete(f"{self.http}/patients/{pid}", timeout=30)


def _start_orthanc(folder: Path) -> tuple[subprocess.Popen, Orthanc]:
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "YiQiaoTestPACS",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "UnknownSopClassAccepted": True,
        "StableAge": 1,
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "DicomModalities": {},
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        ["Orthanc", str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT
    )
    return proc, Orthanc(Node("ORTHANC", "127.0.0.1", dicom_port), f"http://127.0.0.1:{http_port}")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    if shutil.which("Orthanc") is None or not DICOMWEB_PLUGIN.exists():
        pytest.skip(
            "Orthanc or its DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb)"
        )
    folder = tmp_path_factory.mktemp("orthanc")
    for _attempt in range(3):  # a free port can be taken between probing and binding
        proc, pacs = _start_orthanc(folder)
        end = time.monotonic() + 60
        up = False
        while time.monotonic() < end and proc.poll() is None:
            try:
                up = requests.get(pacs.http + "/system", timeout=2).ok
            except requests.RequestException:
                up = False
            if up:
                break
            time.sleep(0.1)
        if up:
            break
        proc.kill()
        proc.wait()
    else:
        log = (folder / "orthanc.log").read_text(errors="replace")[-2000:]
        pytest.skip(f"Orthanc did not start: {log}")
    yield pacs
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
