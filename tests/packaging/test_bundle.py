"""The PyInstaller bundle, built from the committed spec, runs its own self-check and hub.

Run as CI runs it: offscreen Qt, an empty profile, no machine policy and no OS keyring
(Linux CI has no Secret Service; ``PYTHON_KEYRING_BACKEND`` pins that so a developer's
unlocked GNOME keyring cannot change the outcome). The build is reused while its inputs are
unchanged (packaging/build.py); a fresh clone builds it cold.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.conftest import write_policy
from tests.packaging.report import Row, in_group, one, parse_report
from tests.packaging.scripts import ROOT, build_script

pytestmark = pytest.mark.timeout(900)

NO_KEYRING = "No secure credential store was found on this computer"


@pytest.fixture(scope="module")
def bundle() -> Iterator[Path]:
    with build_script.bundle_in_use() as (exe, _seconds):
        yield exe


def bundle_env(
    home: Path, policy: Path, keyring: str | None = "keyring.backends.fail.Keyring"
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "YIQIAO_", "PYTHON_KEYRING", "DBUS_"))
    }
    env.update(QT_QPA_PLATFORM="offscreen", YIQIAO_HOME=str(home), YIQIAO_POLICY_FILE=str(policy))
    if keyring:
        env["PYTHON_KEYRING_BACKEND"] = keyring
    # requests would let these override the policy's CA file (see test_selfcheck.py).
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.pop("CURL_CA_BUNDLE", None)
    return env


def self_check(exe: Path, env: dict[str, str], *args: str) -> tuple[int, list[Row], str]:
    done = subprocess.run(
        [str(exe), "--self-check", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, parse_report(done.stdout), done.stdout


def test_self_check_in_ci_conditions(bundle: Path, tmp_path: Path) -> None:
    code, rows, out = self_check(bundle, bundle_env(tmp_path / "home", tmp_path / "policy.toml"))
    assert out.rstrip().splitlines()[-1].startswith("Result: FAILED"), out
    assert code == 1

    # The one expected failure: no keyring, said plainly; the cache cannot get a key either.
    keyring = one(rows, "Keyring", "backend")
    assert keyring.state == "FAIL" and NO_KEYRING in keyring.detail
    cache = one(rows, "Encrypted cache", "cache")
    assert cache.state == "FAIL" and "no key can be kept" in cache.detail
    # ...while SQLCipher itself works in the bundle.
    assert one(rows, "Encrypted cache", "SQLCipher").state == "PASS"
    assert one(rows, "Build", "YiQiao").detail.endswith(f"(bundle at {bundle.parent})")
    assert one(rows, "Qt", "translations").state == "PASS"
    assert one(rows, "Hub", "hub").state == "SKIP"

    # Every shipped sample decodes in the bundle (the pixel plugins and their metadata are in).
    decoders = in_group(rows, "DICOM decoders")
    samples = sorted(p.name for p in (ROOT / "resources" / "dicom_samples").glob("*.dcm"))
    assert samples, "the viewer ships DICOM samples in resources/dicom_samples"
    decoded = sorted(r.detail.split(":", 1)[0] for r in decoders if r.state == "PASS")
    assert decoded == samples, out
    # A syntax without a sample is not passed on a plugin's presence alone.
    assert all(
        r.state == "WARN" and "not exercised" in r.detail for r in decoders if r.state != "PASS"
    )

    # Listing devices works in the bundle (none on a CI machine is a warning, not a failure).
    devices = {r.name: r for r in in_group(rows, "Devices")}
    assert set(devices) == {"cameras", "microphones"}, out
    assert all(r.state in ("PASS", "WARN") for r in devices.values()), out

    # aiortc's VP8 and Opus encoders run on PyAV's bundled codec libraries.
    media = {r.name: r.state for r in in_group(rows, "Media")}
    assert media == {"VP8 video": "PASS", "Opus audio": "PASS"}, out

    failed = {(r.group, r.name) for r in rows if r.state == "FAIL"}
    assert failed == {("Keyring", "backend"), ("Encrypted cache", "cache")}, out


@pytest.fixture(scope="module")
def bundled_hub(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bundle running itself as the hub (`YiQiao hub serve`), as the embedded demo hub does."""
    data = tmp_path_factory.mktemp("bundled-hub")
    port_file = data / "hub.port"
    env = bundle_env(data / "home", data / "policy.toml", keyring=None)
    log = open(data / "hub.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            str(bundle),
            "hub",
            "serve",
            "--data",
            str(data),
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--seed-demo",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, (data / "hub.log").read_text()
            assert time.monotonic() < deadline, "bundled hub did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{int(port_file.read_text())}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_bundle_is_its_own_hub_and_checks_it(
    bundle: Path, bundled_hub: str, tmp_path: Path
) -> None:
    policy = write_policy(tmp_path / "policy.toml", hub_url=bundled_hub, language="zh_CN")
    env = bundle_env(tmp_path / "home", policy, keyring=None)
    # the policy's language is Chinese; the report is read back in English (--lang wins)
    code, rows, out = self_check(bundle, env, "--demo-keyring", "--lang", "en")
    for probe in ("/healthz", "/readyz"):
        assert one(rows, "Hub", probe).state == "PASS", out
    assert one(rows, "Hub", "TLS trust").state == "WARN"  # plain http is called out
    assert one(rows, "Policy", "hub_url").detail == f"'{bundled_hub}' (locked by {policy})"
    assert one(rows, "Keyring", "backend").state == "PASS"
    assert one(rows, "Encrypted cache", "cache").state == "PASS"


def test_bundle_trusts_hub_through_hospital_ca(
    bundle: Path, tls_hub: str, tls_files, tmp_path: Path
) -> None:
    policy = write_policy(
        tmp_path / "policy.toml", hub_url=tls_hub, ca_bundle=str(tls_files.ca_cert)
    )
    _, rows, out = self_check(bundle, bundle_env(tmp_path / "home", policy))
    assert one(rows, "Hub", "/readyz").state == "PASS", out
    assert one(rows, "Hub", "TLS trust").state == "PASS", out

    # Without the hospital CA the same hub is refused, and the report says why.
    policy = write_policy(tmp_path / "policy.toml", hub_url=tls_hub)
    _, rows, out = self_check(bundle, bundle_env(tmp_path / "home", policy))
    row = one(rows, "Hub", "TLS trust")
    assert row.state == "FAIL" and "not trusted" in row.detail, out


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_bundle_shows_the_main_window(bundle: Path, tmp_path: Path, lang: str) -> None:
    done = subprocess.run(
        [str(bundle), "--probe-startup", "--lang", lang],
        env=bundle_env(tmp_path / "home", tmp_path / "policy.toml"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "WINDOW_SHOWN" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_bundle_speaks_dicom(bundle: Path, tmp_path: Path) -> None:
    """`YiQiao dicom echo|send` from the frozen bundle against DCMTK's storescp."""
    import shutil

    from tests.dicom_net.conftest import free_port, wait_until

    if shutil.which("storescp") is None:
        pytest.skip("DCMTK's storescp is not installed (apt-get install dcmtk)")
    env = bundle_env(tmp_path / "home", tmp_path / "policy.toml")
    received = tmp_path / "received"
    received.mkdir()
    port = free_port()
    peer = subprocess.Popen(["storescp", "-aet", "PEER", "-od", str(received), str(port)])
    try:
        pacs = f"PEER@127.0.0.1:{port}"

        def echo() -> subprocess.CompletedProcess:
            return subprocess.run([str(bundle), "dicom", "echo", "--pacs", pacs], env=env,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip

        wait_until(lambda: echo().returncode == 0, what="storescp to answer the bundle's echo")
        sample = sorted((ROOT / "resources" / "dicom_samples").glob("*.dcm"))[0]
        sent = subprocess.run(
            [str(bundle), "dicom", "send", "--pacs", pacs, str(sample)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert sent.returncode == 0 and "sent 1 of 1" in sent.stdout, sent.stdout + sent.stderr
        assert "Traceback" not in sent.stderr
        assert len(list(received.iterdir())) == 1
        # No keyring in CI: the encrypted inbox says so instead of a traceback.
        inbox = subprocess.run([str(bundle), "dicom", "inbox"], env=env, capture_output=True,
                               text=True, timeout=120)  # fmt: skip
        assert inbox.returncode == 1 and "cannot be opened" in inbox.stderr, inbox.stderr
        assert "Traceback" not in inbox.stderr
    finally:
        peer.terminate()
        peer.wait()
