"""`--self-check` reports whether our DICOM port can be opened and the PACS answers C-ECHO."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.selfcheck import main
from tests.dicom_net.conftest import Orthanc, free_port
from tests.packaging.report import in_group, parse_report


def _policy(path: Path, **values: object) -> None:
    lines = [f"{k} = {v!r}\n" if isinstance(v, str) else f"{k} = {str(v).lower()}\n"
             for k, v in values.items()]  # fmt: skip
    path.write_text("".join(lines), "utf-8")


def _dicom_rows(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    main(["--self-check"])
    rows = parse_report(capsys.readouterr().out)
    return {r.name: r for r in in_group(rows, "DICOM network")}


def test_port_free_and_pacs_answers(capsys, policy_file: Path, orthanc: Orthanc) -> None:
    port = free_port()
    _policy(
        policy_file,
        dicom_receive_enabled=True,
        dicom_port=port,
        dicom_bind_address="127.0.0.1",
        dicom_pacs=str(orthanc.dicom),
        dicomweb_url=orthanc.dicomweb,
    )
    rows = _dicom_rows(capsys)
    assert rows["receive port"].state == "PASS" and str(port) in rows["receive port"].detail
    assert rows["PACS C-ECHO"].state == "PASS" and "0x0000" in rows["PACS C-ECHO"].detail
    assert rows["DICOMweb"].state == "PASS"


def _rows_direct() -> dict[str, object]:
    """The DICOM group alone (the full report is covered once above)."""
    from app.config import load_settings
    from app.selfcheck import check_dicom_network

    return {c.name: c for c in check_dicom_network(load_settings(registry={}))}


def test_port_in_use_and_silent_pacs_fail_with_reasons(policy_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        _policy(
            policy_file,
            dicom_receive_enabled=True,
            dicom_port=port,
            dicom_bind_address="127.0.0.1",
            dicom_pacs=f"PACS@127.0.0.1:{free_port()}",
        )
        rows = _rows_direct()
    assert rows["receive port"].state == "FAIL" and "in use" in rows["receive port"].detail
    assert rows["PACS C-ECHO"].state == "FAIL" and "PACS@127.0.0.1" in rows["PACS C-ECHO"].detail


def test_nothing_configured_is_skipped(policy_file: Path) -> None:
    rows = _rows_direct()
    assert rows["receive port"].state == "SKIP"
    assert rows["PACS C-ECHO"].state == "SKIP"
