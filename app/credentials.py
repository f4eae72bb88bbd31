"""Secrets (hub tokens, cache keys) live only in the OS keyring — never in a plain file.

If the machine has no usable keyring backend (e.g. a Linux box without a Secret Service),
``KeyringUnavailable`` is raised with a message for the user; there is deliberately no
plaintext fallback. Tests install an in-memory backend (``use_memory_keyring``).
"""

from __future__ import annotations

import base64
import os

SERVICE = "YiQiao"


class KeyringUnavailable(RuntimeError):
    """No secure credential store on this machine."""


def _memory_keyring_class() -> type:
    """Built on first use so importing this module does not import keyring (start-up)."""
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        """An in-memory keyring backend for tests (never used by the shipped app)."""

        priority = 1

        def __init__(self) -> None:
            super().__init__()
            self._store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            """Return the stored secret or None."""
            return self._store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            """Store a secret."""
            self._store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            """Forget a secret (missing is fine)."""
            self._store.pop((service, username), None)

    return MemoryKeyring


def _backend():  # noqa: ANN202 - keyring backends share no public base we want to import eagerly
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    if type(backend).__name__ == "MemoryKeyring":
        return backend
    names = {type(backend).__module__, type(backend).__name__}
    chained = getattr(backend, "backends", None)
    if isinstance(backend, fail.Keyring) or (chained is not None and not chained):
        raise KeyringUnavailable(
            "No secure credential store was found on this computer, so YiQiao cannot keep "
            "your login or encryption keys safely. On Windows this should never happen; on "
            "Linux install and unlock a Secret Service (GNOME Keyring or KWallet)."
        )
    # The plaintext/alt backends would store secrets in files: refuse them.
    if any("keyrings.alt" in n or "PlaintextKeyring" in n for n in names):
        raise KeyringUnavailable(
            "The only credential store available writes secrets to a plain file; YiQiao "
            "refuses it. Ask IT to enable the system keyring."
        )
    return backend


def check_keyring() -> str:
    """Describe the backend in use, or raise KeyringUnavailable."""
    backend = _backend()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def get_secret(name: str) -> str | None:
    """Read a secret (e.g. ``token:alice@hub``)."""
    return _backend().get_password(SERVICE, name)


def set_secret(name: str, value: str) -> None:
    """Store a secret."""
    _backend().set_password(SERVICE, name, value)


def delete_secret(name: str) -> None:
    """Delete a secret if present."""
    backend = _backend()
    try:
        backend.delete_password(SERVICE, name)
    except Exception:  # noqa: BLE001 - keyring raises backend-specific "not found" errors
        pass


def get_or_create_key(name: str, nbytes: int = 32) -> bytes:
    """A random key kept in the keyring (created on first use), e.g. the cache key."""
    existing = get_secret(name)
    if existing:
        return base64.b64decode(existing)
    key = os.urandom(nbytes)
    set_secret(name, base64.b64encode(key).decode("ascii"))
    return key


def use_memory_keyring():  # noqa: ANN201 - a KeyringBackend subclass built lazily
    """Install a fresh in-memory backend (tests only)."""
    import keyring

    backend = _memory_keyring_class()()
    keyring.set_keyring(backend)
    return backend


class OneTimeSecret:
    """A secret handed from one step to the next (the sign-in password to the session that
    re-wraps the cache keys with it), readable once and never shown in a repr or log."""

    def __init__(self, value: str) -> None:
        self._value: str | None = value

    def take(self) -> str | None:
        """The secret, then forgotten."""
        value, self._value = self._value, None
        return value

    def __repr__(self) -> str:
        return "OneTimeSecret(<hidden>)"
