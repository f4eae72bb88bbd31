"""Sync that keeps pace with people: a local write is pushed without waiting for the periodic
cycle, and the hub's hint makes another device pull at once. The engines' periodic pull is set
to an hour here, so only push-on-write and the hint can deliver within the deadline."""

from __future__ import annotations

from pathlib import Path

from app.protocol.sync import DocType
from app.sync.hints import HintListener
from tests.support.wait import wait_until
from tests.sync.hub_harness import make_client


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
        wait_until(
            lambda: a.engine.status().state == "idle" and b.engine.status().state == "idle",
            60,
            "both engines idle after their first cycle",
        )
        for n in range(3):
            p = a.store.create(DocType.patient, {"name": f"快速同步{n}", "sex": "F"})
            wait_until(lambda: a.store.outbox_size() == 0, 60, "pushed without Sync now")
            wait_until(lambda pid=p.id: b.store.get(pid) is not None, 60, "pulled on the hint")
        assert hints.hints >= 3
    finally:
        hints.stop()
        a.close()
        b.close()
