"""Our PS3.10 wrapping of a received data set is byte for byte pynetdicom's
``encoded_dataset()`` (which the receiver no longer calls: it cost ~0.8 ms per instance)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pynetdicom import AE, evt

from app.dicom_net.contexts import ACCEPTED_SYNTAXES, storage_sop_classes
from app.dicom_net.part10 import received_file
from tests.support.ct_phantom import PhantomSpec, write_phantom


def test_received_file_equals_pynetdicoms_encoding(tmp_path: Path) -> None:
    if not shutil.which("storescu"):
        pytest.skip("DCMTK's storescu is not installed")
    files = write_phantom(tmp_path / "src", PhantomSpec(size=16, slices=3))
    compared: list[bool] = []

    def on_store(event) -> int:  # noqa: ANN001
        compared.append(received_file(event) == event.encoded_dataset())
        return 0

    ae = AE("PART10")
    for sop_class in storage_sop_classes():
        ae.add_supported_context(sop_class, ACCEPTED_SYNTAXES)
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    try:
        port = str(server.server_address[1])
        # Explicit and implicit little endian; the UIDs are of odd (padded) and even length.
        for option in ("-xe", "-xi"):
            subprocess.run(
                ["storescu", option, "-aec", "PART10", "127.0.0.1", port, *map(str, files)],
                check=True,
                capture_output=True,
            )
    finally:
        server.shutdown()
    assert compared == [True] * 6
