"""Shared fixtures: a throw-away profile, an in-memory keyring, offscreen Qt."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Offscreen Qt before anything imports PySide6; no real profile, policy or keyring is touched.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

# A full collection walks every live object (~0.2 s once PySide6, aiortc and pydicom are
# loaded); between tests only the young generations are collected, the whole heap every
# FULL_COLLECTION_EVERY tests, which keeps memory flat at a fraction of the time.
FULL_COLLECTION_EVERY = 25
_tests_since_full_collection = 0


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own."""
    from tests.support.pg_per_worker import use_database_of_this_worker

    use_database_of_this_worker()


# Started first so that, under pytest-xdist, the long build overlaps the rest of the suite
# instead of running alone at its end.
RUN_FIRST = ("tests/packaging/test_bundle.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the longest modules to the front (a stable sort keeps each module's order)."""
    items.sort(key=lambda item: not item.nodeid.startswith(RUN_FIRST))


@pytest.fixture(autouse=True)
def profile_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh per-test YIQIAO_HOME and an absent machine policy (unless a test writes one)."""
    home = tmp_path_factory.mktemp("profile")
    monkeypatch.setenv("YIQIAO_HOME", str(home))
    monkeypatch.setenv("YIQIAO_POLICY_FILE", str(home / "policy.toml"))
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[object]:
    """Every test gets an empty in-memory keyring; nothing reaches the real OS store."""
    from app.credentials import use_memory_keyring

    backend = use_memory_keyring()
    yield backend


@pytest.fixture(autouse=True)
def gui_thread_collector(request: pytest.FixtureRequest) -> Iterator[None]:
    """Once Qt is up, cycles are collected on the GUI thread, as in the app (app/ui/gui_gc.py).

    Without it a worker thread (viewer import, decode) may collect an earlier test's widget.
    """
    if "qapp" in request.fixturenames or "qtbot" in request.fixturenames:
        from app.ui.gui_gc import install_gui_thread_collector

        install_gui_thread_collector(request.getfixturevalue("qapp"))
    yield
    if not gc.isenabled():
        # On the main (GUI) thread, between tests.
        global _tests_since_full_collection
        _tests_since_full_collection += 1
        if _tests_since_full_collection >= FULL_COLLECTION_EVERY:
            _tests_since_full_collection = 0
            gc.collect()
        else:
            gc.collect(1)


@pytest.fixture(autouse=True)
def fresh_worker_pools() -> Iterator[None]:
    """Each test starts with empty pools: work an earlier test left waiting on a hub it has
    stopped (a session closing, a request timing out) must not queue this test's work."""
    yield
    from app import tasks

    tasks.abandon_pools()


@pytest.fixture
def policy_file(profile_dir: Path) -> Path:
    """Path of the machine policy file the app will read in this test (write to it)."""
    return profile_dir / "policy.toml"


@pytest.fixture
def settings(profile_dir: Path):
    """Effective settings for the temporary profile."""
    from app.config import load_settings

    return load_settings(registry={})
