"""A real hub on loopback with a township clinic, a county hospital (radiology, cardiology,
a coordinator) and a second clinic; clients are real profiles (encrypted cache, blob store,
sync engine) signed in over HTTP, shown through the real main window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sync.hub_harness import PASSWORD, HubProcess

USERS = {
    # username: (display name, role, facility, department, title)
    "clinic": ("李医生", "clinic_doctor", "qingshan", "", "乡村医生"),
    "clinic2": ("王医生", "clinic_doctor", "hexi", "", ""),
    "radiologist": ("赵影像", "specialist", "county", "放射科", "主任医师"),
    "cardiologist": ("钱心电", "specialist", "county", "心内科", "副主任医师"),
    "coordinator": ("孙协调", "coordinator", "county", "", ""),
    "outsider": ("周专家", "specialist", "province", "放射科", "主任医师"),
}


class WorkflowHub(HubProcess):
    """The hub with the workflow's facilities and people."""

    def __init__(self, data: Path) -> None:
        if not (data / "hub.db").exists():
            data.mkdir(parents=True, exist_ok=True)
            seed(data)
        super().__init__(data)


def seed(data: Path) -> None:
    from hub.accounts import add_facility, add_user
    from hub.config import HubConfig
    from hub.db import Database

    db = Database(HubConfig(data_dir=data).database_url)
    db.migrate()
    add_facility(db, "qingshan", "青山镇卫生院", "township_clinic")
    add_facility(db, "hexi", "河西乡卫生院", "township_clinic")
    add_facility(db, "county", "东川县人民医院", "county_hospital")
    add_facility(db, "province", "云岭省远程医学中心", "provincial_center")
    for username, (name, role, facility, dept, title) in USERS.items():
        add_user(db, username, name, role, facility, PASSWORD, dept, title=title)
    db.engine.dispose()


@pytest.fixture(scope="module")
def workflow_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkflowHub]:
    hub = WorkflowHub(tmp_path_factory.mktemp("wfhub"))
    hub.start()
    yield hub
    hub.stop()


def sign_in(
    folder: Path, url: str, username: str, start: bool = True, password: str = PASSWORD
) -> tuple[Any, Any]:
    """A signed-in client profile: (AppContext with the sync session, user)."""
    from app.backoff import Backoff
    from app.config import load_settings
    from app.context import AppContext
    from app.sync.blobstore import BlobStore
    from app.sync.cache import open_cache
    from app.sync.engine import SyncEngine
    from app.sync.hub_client import HubClient
    from app.sync.session import SyncSession
    from app.sync.store import RecordStore

    folder.mkdir(parents=True, exist_ok=True)
    client = HubClient(url, timeout=60)  # a deadline: sign-in hashes a password on a loaded CI
    tokens = client.login(username, password)
    cache = open_cache(folder / "cache.db", b"k" * 32)
    blobs = BlobStore(folder / "blobs", b"b" * 32, cache, 1 << 30)
    store = RecordStore(cache, tokens.user.id, tokens.user.facility_id)
    engine = SyncEngine(
        store, blobs, client, stall_s=5.0, poll_interval_s=1.0, backoff=Backoff(0.05, 0.5)
    )
    ctx = AppContext(settings=load_settings(registry={}))
    ctx.hub_url = url
    ctx.user = tokens.user
    ctx.services["hub_client"] = client
    ctx.services["sync"] = SyncSession(username, folder, store, blobs, engine)
    # As install_sync does: record changes reach the pages on the GUI thread.
    from app.ui.bridge import call_on_gui

    store.on_change(lambda ids: call_on_gui(ctx.changed, "records"))
    if start:
        engine.start()
    return ctx, tokens.user
