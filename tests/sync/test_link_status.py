"""The status bar follows the hub: gone as soon as the WebSocket closes or a request fails,
back within a couple of probe intervals (1 s while offline) once the hub returns."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from app.config import load_settings
from app.context import AppContext
from app.sync.link import OFFLINE, ONLINE, UNKNOWN, HubLink
from tests.sync.hub_harness import PASSWORD, HubProcess


def test_link_state_and_probe_schedule_with_an_injected_clock() -> None:
    now = [100.0]
    link = HubLink(clock=lambda: now[0])
    heard: list[str] = []
    link.on_change(heard.append)
    assert link.state == UNKNOWN and link.probe_interval() == 1.0
    link.report(True, "probe")
    assert link.probe_interval() == 4.0, "no WebSocket: probe often enough to notice in 5 s"
    link.websocket(True)
    assert link.probe_interval() == 20.0, "the WebSocket's close is the fast signal now"
    now[0] = 130.0
    link.websocket(False)
    assert (link.state, link.reason, link.changed_at) == (OFFLINE, "websocket", 130.0)
    assert link.probe_interval() == 1.0
    link.report(False, "request")  # no change, nobody told twice
    link.report(True, "probe")
    assert heard == [ONLINE, OFFLINE, ONLINE]


@pytest.fixture
def stoppable_hub(tmp_path_factory: pytest.TempPathFactory):
    proc = HubProcess(tmp_path_factory.mktemp("link-hub")).start()
    yield proc
    proc.stop()


def test_status_bar_follows_a_real_hub_stopped_and_restarted(qtbot, stoppable_hub, request):
    from app.ui.app import ClientController

    context = AppContext(settings=load_settings(registry={}), hub_url=stoppable_hub.url)
    context.settings.set_user("hub_url", stoppable_hub.url)
    controller = ClientController(QApplication.instance(), context)
    qtbot.addWidget(controller.window)
    request.addfinalizer(controller.health_timer.stop)
    controller.start_hub()
    label = controller.window.hub_label
    qtbot.waitUntil(lambda: "connected" in label.text(), timeout=30_000)

    controller.show_login()
    dialog = controller.login_dialog
    dialog.username.setText("doc1")
    dialog.password.setText(PASSWORD)
    dialog.sign_in_button.click()
    qtbot.waitUntil(lambda: context.user is not None, timeout=30_000)
    qtbot.waitUntil(lambda: "call" in controller.window._pages, timeout=60_000)
    service = controller.window._pages["call"].service
    request.addfinalizer(service.stop)
    qtbot.waitUntil(lambda: controller.link.websocket_up, timeout=30_000)
    assert controller.health_timer.interval() == 20_000

    stoppable_hub.stop()
    qtbot.waitUntil(lambda: "offline" in label.text(), timeout=30_000)
    # Noticed by an event (the WebSocket closing or a request failing), not by the 20 s poll.
    assert controller.link.reason in ("websocket", "request"), controller.link.reason
    assert controller.health_timer.interval() == 1_000

    stoppable_hub.start()
    qtbot.waitUntil(lambda: "connected" in label.text(), timeout=30_000)
    assert controller.link.state == ONLINE
