"""The NSIS script compiles (warnings are errors) and the policy it writes is valid TOML that
app.config reads as locked policy. The installer itself runs on Windows in CI (workflow)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from app.config import load_settings, read_policy_file
from tests.packaging.scripts import installer_script

SCRIPT = installer_script.SCRIPT
STANDIN_MARKER = installer_script.STANDIN_MARKER
build_installer = installer_script.build_installer
make_standin_payload = installer_script.make_standin_payload


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_standin_payload(tmp_path_factory.mktemp("payload") / "YiQiao")


def test_script_compiles_around_the_payload(standin: Path, tmp_path: Path) -> None:
    out = tmp_path / "YiQiao-1.2.3-setup.exe"
    result = build_installer(standin, out, version="1.2.3", compress=False)
    assert result.returncode == 0, result.stdout + result.stderr
    data = out.read_bytes()
    assert data[:2] == b"MZ"  # a Windows executable
    # Every payload file went in (stored uncompressed in this test build).
    assert data.count(STANDIN_MARKER.encode()) == 3


def test_compressed_release_build_compiles(standin: Path, tmp_path: Path) -> None:
    out = tmp_path / "YiQiao-1.2.3-setup.exe"
    result = build_installer(standin, out, version="1.2.3", compress=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert STANDIN_MARKER.encode() not in out.read_bytes()


def test_missing_payload_is_a_clear_error(tmp_path: Path) -> None:
    result = build_installer(
        tmp_path / "nothing-here", tmp_path / "YiQiao-1.2.3-setup.exe", version="1.2.3"
    )
    assert result.returncode != 0
    assert "no files found" in result.stdout + result.stderr
    assert not (tmp_path / "YiQiao-1.2.3-setup.exe").exists()


def render_policy(hub: str, lang: str, with_ca: bool, program_data: str) -> str:
    """Do by hand what the installer's WritePolicy does with /HUB, /CA and /LANG."""
    script = SCRIPT.read_text("utf-8")
    block = script.split("POLICY-TEMPLATE-BEGIN", 1)[1].split("POLICY-TEMPLATE-END", 1)[0]
    out = []
    condition = None
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("${If} $"):
            condition = line.split()[1]
        elif line.startswith("${EndIf}"):
            condition = None
        elif line.startswith('FileWrite $0 "'):
            given = {"$HubUrl": bool(hub), "$CaFile": with_ca, "$UiLang": bool(lang)}
            if condition is not None and not given[condition]:
                continue
            text = line[len('FileWrite $0 "') : -1]
            text = (
                text.replace("${POLICY_DIR}", program_data + "\\YiQiao")
                .replace("${VERSION}", "1.2.3")
                .replace("$HubUrl", hub)
                .replace("$UiLang", lang)
                .replace("$\\r$\\n", "\r\n")
            )
            assert "$" not in text, f"unhandled NSIS variable in {line!r}"
            out.append(text)
    return "".join(out)


def test_policy_written_by_installer_is_read_as_locked_policy(tmp_path: Path) -> None:
    text = render_policy("https://hub.county-hospital.cn:8443", "zh_CN", True, r"C:\ProgramData")
    parsed = tomllib.loads(text)
    # Literal strings keep Windows backslashes exactly; no escaping needed or done.
    assert parsed == {
        "hub_url": "https://hub.county-hospital.cn:8443",
        "ca_bundle": r"C:\ProgramData\YiQiao\hospital-ca.pem",
        "language": "zh_CN",
    }
    policy = tmp_path / "policy.toml"
    policy.write_bytes(text.encode("ascii"))
    values, problems = read_policy_file(policy)
    assert problems == [] and values == parsed
    settings = load_settings(policy_file=policy, registry={})
    assert settings["hub_url"] == "https://hub.county-hospital.cn:8443"
    assert settings["language"] == "zh_CN"
    assert settings.is_locked("hub_url") and settings.is_locked("language")


def test_installer_writes_only_the_keys_it_was_given() -> None:
    text = render_policy("", "en", False, r"C:\ProgramData")
    assert tomllib.loads(text) == {"language": "en"}


def test_installer_validates_parameters_before_changing_anything() -> None:
    script = SCRIPT.read_text("utf-8")
    on_init = script.split("Function .onInit", 1)[1].split("FunctionEnd", 1)[0]
    refusals = re.findall(r'RefuseParameter "([^"]+)"', on_init)
    assert any(r.startswith("/HUB must start with https://") for r in refusals)
    assert any(r.startswith("/CA file not found") for r in refusals)
    assert any(r.startswith("/LANG must be zh_CN, en or system") for r in refusals)
    # Validation lives in .onInit, before the install section copies a single file.
    assert "SetErrorLevel 2" in script
