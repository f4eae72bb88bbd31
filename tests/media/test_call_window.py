"""The call page with a real CallService against a real hub: a test call shows our own video
coming back, the stats panel fills in, hang-up returns to the idle view."""

from __future__ import annotations

import time
from pathlib import Path

from app.context import AppContext
from app.media.call import CallPhase
from app.sync.hub_client import HubClient


def test_test_call_in_the_call_page(qtbot, live_hub, settings) -> None:  # noqa: ANN001
    from app.ui.pages.call import CallPage
    from hub.demo import DEMO_PASSWORD

    client = HubClient(live_hub.url)
    tokens = client.login("doctor", DEMO_PASSWORD)
    context = AppContext(settings=settings, hub_url=live_hub.url, user=tokens.user,
                         services={"hub_client": client})
    page = CallPage(context)
    qtbot.addWidget(page)
    page.resize(960, 600)
    page.show()
    qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=10_000)
    page.test_button.click()
    widget = page.call_widget
    qtbot.waitUntil(lambda: page.stack.currentWidget() is widget, timeout=5_000)
    qtbot.waitUntil(lambda: widget.remote._image is not None, timeout=20_000)
    qtbot.waitUntil(lambda: widget.stats.values["recv_video"].text().startswith(("3", "1", "6")),
                    timeout=10_000)
    assert widget.status.text() in ("Connected", "已连接")
    assert widget.bars.bars >= 1
    widget.stats_button.click()
    time.sleep(0.5)
    qtbot.wait(300)
    shots = Path(__file__).resolve().parents[2] / "docs" / "img"
    shots.mkdir(parents=True, exist_ok=True)
    page.grab().save(str(shots / "calls-test-call.png"))
    widget.hangup.click()
    qtbot.waitUntil(lambda: page.stack.currentIndex() == 0, timeout=10_000)
    assert page.service.controller.phase is CallPhase.ended
    page.service.stop()
