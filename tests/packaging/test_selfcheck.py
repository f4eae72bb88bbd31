"""`--self-check` from source: policy, TLS trust against a real hub, honest failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import paths
from app.selfcheck import REPORT_FILE_NAME, main
from tests.packaging.conftest import write_policy
from tests.packaging.report import in_group, one, parse_report
from tests.packaging.tls_hub import free_port


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list, str]:
    code = main(["--self-check", *args])
    out = capsys.readouterr().out
    return code, parse_report(out), out


def test_policy_in_force_is_listed_with_its_source(capsys, policy_file: Path) -> None:
    write_policy(policy_file, language="zh_CN", proxy="none")
    code, rows, _ = run(capsys, "--lang", "en")  # the policy's zh_CN would word it in Chinese
    assert one(rows, "Policy", "policy file").detail == f"{policy_file} (present)"
    assert one(rows, "Policy", "language").detail == f"'zh_CN' (locked by {policy_file})"
    assert one(rows, "Policy", "proxy").state == "PASS"


def test_wrong_policy_value_fails_and_names_key_and_file(capsys, policy_file: Path) -> None:
    write_policy(policy_file, hub_url="ftp://hub.example.org")
    code, rows, _ = run(capsys)
    row = one(rows, "Policy", "hub_url")
    assert row.state == "FAIL"
    assert str(policy_file) in row.detail and "https://" in row.detail
    assert code == 1


def test_broken_policy_file_fails(capsys, policy_file: Path) -> None:
    policy_file.write_text("hub_url = 'unterminated\n", "utf-8")
    code, rows, _ = run(capsys)
    assert one(rows, "Policy", "(file)").state == "FAIL"
    assert code == 1


def test_hub_trusted_through_hospital_ca(
    capsys, policy_file: Path, tls_hub: str, tls_files, monkeypatch
) -> None:
    # An environment CA bundle (this machine sets one) must not override the policy's CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", __import__("certifi").where())
    monkeypatch.setenv("CURL_CA_BUNDLE", __import__("certifi").where())
    write_policy(policy_file, hub_url=tls_hub, ca_bundle=str(tls_files.ca_cert))
    _, rows, _ = run(capsys)
    hub = {r.name: r for r in in_group(rows, "Hub")}
    assert hub["CA certificate"].state == "PASS" and "1 certificate" in hub["CA certificate"].detail
    assert hub["/healthz"].state == "PASS"
    assert hub["/readyz"].state == "PASS"
    assert hub["TLS trust"].state == "PASS"
    assert str(tls_files.ca_cert) in hub["TLS trust"].detail


def test_hub_without_hospital_ca_is_reported_untrusted(
    capsys, policy_file: Path, tls_hub: str
) -> None:
    write_policy(policy_file, hub_url=tls_hub)
    code, rows, _ = run(capsys)
    row = one(rows, "Hub", "TLS trust")
    assert row.state == "FAIL"
    assert "not trusted" in row.detail and "CERTIFICATE_VERIFY_FAILED" in row.detail
    assert code == 1


def test_ca_file_that_is_not_a_certificate_fails(capsys, policy_file: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("this is not a certificate\n")
    write_policy(policy_file, hub_url="https://127.0.0.1:9", ca_bundle=str(bogus))
    code, rows, _ = run(capsys)
    row = one(rows, "Hub", "CA certificate")
    assert row.state == "FAIL" and str(bogus) in row.detail
    assert code == 1


def test_unreachable_hub_fails_with_reason(capsys, policy_file: Path) -> None:
    write_policy(policy_file, hub_url=f"http://127.0.0.1:{free_port()}")
    code, rows, _ = run(capsys)
    for probe in ("/healthz", "/readyz"):
        row = one(rows, "Hub", probe)
        assert row.state == "FAIL" and "cannot reach the hub" in row.detail
    assert code == 1


def test_no_hub_configured_is_skipped(capsys) -> None:
    _, rows, _ = run(capsys)
    assert one(rows, "Hub", "hub").state == "SKIP"


def test_keyring_and_cache_pass_with_a_working_keyring(capsys) -> None:
    # conftest installs the in-memory keyring, standing in for a working OS keyring.
    _, rows, _ = run(capsys)
    assert one(rows, "Keyring", "backend").state == "PASS"
    assert one(rows, "Encrypted cache", "SQLCipher").state == "PASS"
    cache = one(rows, "Encrypted cache", "cache")
    assert cache.state == "PASS" and "schema v" in cache.detail


def test_self_check_writes_nothing_into_the_profile_but_its_report(
    capsys, profile_dir: Path
) -> None:
    before = {p for p in profile_dir.rglob("*") if p.is_file()}
    _, _, out = run(capsys)
    after = {p for p in profile_dir.rglob("*") if p.is_file()}
    report = paths.user_log_dir() / REPORT_FILE_NAME
    assert after - before == {report}
    assert report.read_text("utf-8") == out


def test_json_output(capsys, tmp_path: Path) -> None:
    import json

    target = tmp_path / "out.json"
    main(["--json", "--output", str(target)])
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(target.read_text("utf-8")) == printed
    assert {"group", "name", "state", "detail"} <= set(printed[0])


def test_ca_variables_in_the_environment_do_not_widen_trust(
    capsys, policy_file: Path, tls_hub: str, tls_files, monkeypatch
) -> None:
    # requests used to let REQUESTS_CA_BUNDLE replace the policy's trust; app/tls.py does not.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files.ca_cert))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    write_policy(policy_file, hub_url=tls_hub)
    _, rows, _ = run(capsys)
    row = one(rows, "Hub", "TLS trust")
    assert row.state == "FAIL"


def make_user_cache(profile: str) -> Path:
    """A real user cache where app.sync keeps it, created through app.sync.cache."""
    from app.sync.cache import cache_key, open_cache

    db = paths.user_data_dir() / "profiles" / profile / "cache.db"
    cache = open_cache(db, cache_key(profile))
    cache.set_state("probe", "kept")
    cache.close()
    return db


def test_existing_user_cache_opens_with_its_key(capsys) -> None:
    db = make_user_cache("doctor-0123456789")
    before = db.read_bytes()
    _, rows, _ = run(capsys)
    row = one(rows, "Encrypted cache", "cache of doctor-0123456789")
    assert row.state == "PASS" and "intact" in row.detail
    assert db.read_bytes() == before  # checked, not migrated or rewritten


def test_user_cache_whose_key_is_gone_fails(capsys) -> None:
    from app import credentials

    make_user_cache("doctor-0123456789")
    credentials.delete_secret("cache-key:doctor-0123456789")
    code, rows, _ = run(capsys)
    row = one(rows, "Encrypted cache", "cache of doctor-0123456789")
    assert row.state == "FAIL" and "not in the keyring" in row.detail
    assert credentials.get_secret("cache-key:doctor-0123456789") is None  # not re-created
    assert code == 1


def test_user_cache_with_a_different_key_fails(capsys) -> None:
    import base64
    import os

    from app import credentials

    make_user_cache("doctor-0123456789")
    credentials.set_secret("cache-key:doctor-0123456789", base64.b64encode(os.urandom(32)).decode())
    _, rows, _ = run(capsys)
    row = one(rows, "Encrypted cache", "cache of doctor-0123456789")
    assert row.state == "FAIL" and "cannot be opened with its key" in row.detail
