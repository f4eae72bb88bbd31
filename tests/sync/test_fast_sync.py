"""Sync that keeps pace with people: a local write is pushed without waiting for the periodic
cycle, and the hub's hint makes another device pull at once. The engines' periodic pull is set
to an hour here, so only push-on-write and the hint can deliver within the deadline."""

from __future__ import annotations

import time
from pathlib import Path

from app.protocol.sync import DocType
from app.sync.hints import HintListener
from tests.sync.hub_harness import make_client


def _wait(predicate, deadline_s: float = 60.0) -> bool:  # noqa: ANN001
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_write_is_pushed_and_the_other_device_is_hinted(hub, tmp_path: Path) -> None:
    a = make_client(tmp_path / "a", hub.url, "doc1", poll_interval_s=3600)
    b = make_client(tmp_path / "b", hub.url, "doc2", poll_interval_s=3600)
    hints = HintListener(hub.url, lambda: b.hub.tokens.access_token, b.engine)
    try:
        a.engine.start()
        b.engine.start()
        hints.start()
        assert hints.connected.wait(30), "hint socket connected"
        # both engines have finished their first cycle and now sleep for an hour
        assert _wait(
            lambda: a.engine.status().state == "idle" and b.engine.status().state == "idle"
        )
        for n in range(3):
            p = a.store.create(DocType.patient, {"name": f"快速同步{n}", "sex": "F"})
            assert _wait(lambda: a.store.outbox_size() == 0), "pushed without Sync now"
            assert _wait(lambda pid=p.id: b.store.get(pid) is not None), "pulled on the hint"
        assert hints.hints >= 3
    finally:
        hints.stop()
        a.close()
        b.close()
