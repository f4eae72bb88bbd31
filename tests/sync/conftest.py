"""Fixtures: one real hub for the sync tests (child process on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.hub_harness import HubProcess


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path_factory.mktemp("hub")).start()
    yield proc
    proc.stop()


@pytest.fixture
def client_dir(tmp_path: Path) -> Path:
    return tmp_path
