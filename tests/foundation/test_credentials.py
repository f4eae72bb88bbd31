"""Secrets only through the keyring; no silent plaintext fallback."""

from __future__ import annotations

import keyring
import pytest
from keyring.backends import fail

from app import credentials


def test_secrets_round_trip_through_keyring(memory_keyring):
    credentials.set_secret("refresh-token:doctor@hub", "abc")
    assert credentials.get_secret("refresh-token:doctor@hub") == "abc"
    assert memory_keyring.get_password(credentials.SERVICE, "refresh-token:doctor@hub") == "abc"
    credentials.delete_secret("refresh-token:doctor@hub")
    assert credentials.get_secret("refresh-token:doctor@hub") is None


def test_generated_key_is_random_and_stable():
    first = credentials.get_or_create_key("cache-key:doctor")
    assert len(first) == 32
    assert credentials.get_or_create_key("cache-key:doctor") == first
    assert credentials.get_or_create_key("cache-key:other") != first


def test_no_backend_gives_clear_message_not_plaintext(profile_dir):
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(credentials.KeyringUnavailable, match="credential store"):
        credentials.set_secret("x", "y")
    with pytest.raises(credentials.KeyringUnavailable):
        credentials.check_keyring()
    # nothing was written anywhere in the profile
    assert not any(p.is_file() for p in profile_dir.rglob("*"))


def test_plaintext_backend_is_refused():
    from keyring.backend import KeyringBackend

    class PlaintextKeyring(KeyringBackend):  # shaped like keyrings.alt's file backend
        priority = 1

        def get_password(self, service, username):
            return None

        def set_password(self, service, username, password):
            raise AssertionError("must never be called")

        def delete_password(self, service, username):
            pass

    keyring.set_keyring(PlaintextKeyring())
    with pytest.raises(credentials.KeyringUnavailable, match="plain file"):
        credentials.get_secret("x")
