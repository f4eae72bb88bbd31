"""Layered settings: defaults < machine policy < user, policy locks, bad policy survives."""

from __future__ import annotations

import json

import pytest

from app.config import load_settings


def test_defaults_without_any_file(settings):
    assert settings["hub_url"] == ""
    assert settings["language"] == "system"
    assert settings.locked == {}
    assert settings.problems == []


def test_user_layer_overrides_defaults_and_persists(profile_dir):
    settings = load_settings(registry={})
    settings.set_user("language", "zh_CN")
    settings.set_user("audio_only", True)
    settings.save()
    again = load_settings(registry={})
    assert again["language"] == "zh_CN"
    assert again["audio_only"] is True


def test_policy_overrides_user_and_locks(policy_file, profile_dir):
    (profile_dir / "config").mkdir(exist_ok=True)
    (profile_dir / "config" / "settings.json").write_text(
        json.dumps({"hub_url": "https://mine.example", "language": "en"})
    )
    policy_file.write_text(
        'hub_url = "https://hub.county-hospital.cn"\ncamera_allowed = false\n', "utf-8"
    )
    settings = load_settings(registry={})
    assert settings["hub_url"] == "https://hub.county-hospital.cn"
    assert settings["camera_allowed"] is False
    assert settings["language"] == "en"  # not in policy: the user's choice stands
    assert settings.is_locked("hub_url") and not settings.is_locked("language")
    with pytest.raises(PermissionError, match="IT department"):
        settings.set_user("hub_url", "https://elsewhere.example")


def test_registry_policy_wins_over_file_policy(policy_file):
    policy_file.write_text('language = "en"\n')
    settings = load_settings(registry={"language": "zh_CN", "self_update_allowed": False})
    assert settings["language"] == "zh_CN"
    assert settings["self_update_allowed"] is False
    assert "Policies" in settings.locked["language"]


def test_malformed_policy_file_still_starts_and_names_the_problem(policy_file):
    policy_file.write_text('hub_url = "https://x\nthis is not toml', "utf-8")
    settings = load_settings(registry={})
    assert settings["hub_url"] == ""  # defaults in force
    [problem] = settings.problems
    assert str(policy_file) in problem.describe()
    assert "cannot be read" in problem.message


def test_wrong_policy_values_fall_back_per_key(policy_file):
    policy_file.write_text(
        'language = "klingon"\ncamera_allowed = "yes"\nproxy = "ftp://x"\n'
        'hub_url = "https://ok.example"\nfavourite_colour = "red"\n',
        "utf-8",
    )
    settings = load_settings(registry={})
    by_key = {p.key: p for p in settings.problems}
    assert set(by_key) == {"language", "camera_allowed", "proxy", "favourite_colour"}
    assert by_key["language"].used_instead == "system"
    assert "must be one of" in by_key["language"].describe()
    assert by_key["camera_allowed"].used_instead is True
    assert settings["hub_url"] == "https://ok.example"  # the good key still applies
    assert not settings.is_locked("language")


def test_policy_ca_bundle_must_exist(policy_file, tmp_path):
    policy_file.write_text(f'ca_bundle = "{tmp_path / "missing.pem"}"\n')
    settings = load_settings(registry={})
    assert settings["ca_bundle"] == ""
    assert "file not found" in settings.problems[0].message


def test_broken_user_file_is_reported_not_fatal(profile_dir):
    (profile_dir / "config").mkdir(exist_ok=True)
    (profile_dir / "config" / "settings.json").write_text("{not json")
    settings = load_settings(registry={})
    assert settings["language"] == "system"
    assert "cannot be read" in settings.problems[0].message


def test_invalid_user_value_refused(settings):
    with pytest.raises(ValueError, match="must be one of"):
        settings.set_user("log_level", "LOUD")
    with pytest.raises(KeyError):
        settings.set_user("no_such_key", 1)
