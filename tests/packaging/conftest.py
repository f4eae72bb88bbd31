"""Fixtures for the packaging tests: a TLS hub with a private CA, the built bundle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.tls_hub import TlsFiles, make_tls_files, running_tls_hub


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A hospital CA and a hub certificate it signed."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_hub(tmp_path_factory: pytest.TempPathFactory, tls_files: TlsFiles) -> Iterator[str]:
    """The real hub over HTTPS on loopback; its URL."""
    with running_tls_hub(tmp_path_factory.mktemp("hub-data"), tls_files) as url:
        yield url


def write_policy(path: Path, **values: str) -> Path:
    """Write a machine policy file with TOML literal strings, as the installer does."""
    path.write_text("".join(f"{k} = '{v}'\n" for k, v in values.items()), "utf-8")
    return path
