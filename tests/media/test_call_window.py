"""The call page with a real CallService against a real hub: a test call shows our own video
coming back, the stats panel fills in, hang-up returns to the idle view."""

from __future__ import annotations

import os
import re
from pathlib import Path

from app.context import AppContext
from app.media.call import CallPhase
from app.media.devices import list_devices
from app.media.ladder import LADDER
from app.media.playback import list_speakers
from app.sync.hub_client import HubClient


def test_test_call_in_the_call_page(qtbot, live_hub, settings, request) -> None:  # noqa: ANN001
    from app.ui.pages.call import CallPage
    from hub.demo import DEMO_PASSWORD

    client = HubClient(live_hub.url)
    tokens = client.login("doctor", DEMO_PASSWORD)
    context = AppContext(
        settings=settings, hub_url=live_hub.url, user=tokens.user, services={"hub_client": client}
    )
    page = CallPage(context)
    qtbot.addWidget(page)
    request.addfinalizer(page.service.stop)
    page.resize(960, 600)
    page.show()
    qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=10_000)
    page.test_button.click()
    widget = page.call_widget
    qtbot.waitUntil(lambda: page.stack.currentWidget() is widget, timeout=5_000)
    qtbot.waitUntil(lambda: widget.remote._image is not None, timeout=20_000)
    qtbot.waitUntil(
        lambda: widget.stats.values["recv_video"].text().startswith(("3", "1", "6")), timeout=10_000
    )
    assert widget.status.text() in ("Connected", "已连接")
    # Whichever devices this machine has, the window tells the truth about them (CI has none).
    media = page.service.controller.media
    if list_speakers():
        qtbot.waitUntil(lambda: media.speaker is not None, timeout=10_000)
        assert not any("speaker" in n or "扬声器" in n for n in widget.device_notes())
    else:
        qtbot.waitUntil(
            lambda: "speaker" in widget.device_note.text() or "扬声器" in widget.device_note.text(),
            timeout=5_000,
        )
    devices = list_devices()
    camera_notes = [
        n
        for n in widget.device_notes()
        if ("camera" in n or "摄像头" in n) and ("test pattern" in n or "测试图" in n)
    ]
    assert len(camera_notes) == (0 if devices["cameras"] else 1), widget.device_notes()
    microphone_notes = [n for n in widget.device_notes() if "microphone" in n or "麦克风" in n]
    assert len(microphone_notes) == (0 if devices["microphones"] else 1), widget.device_notes()
    rungs = len(LADDER)  # ladder step n/N
    assert re.match(rf"[1-{rungs}]/{rungs} \d+x\d+@\d+$", widget.stats.values["rung"].text())
    qtbot.waitUntil(lambda: widget.bars.bars >= 1, timeout=5_000)
    widget.stats_button.click()
    qtbot.waitUntil(lambda: widget.stats.isVisible(), timeout=5_000)
    if os.environ.get("YIQIAO_SCREENSHOTS"):  # refresh the docs picture only when asked
        shots = Path(__file__).resolve().parents[2] / "docs" / "img"
        page.grab().save(str(shots / "calls-test-call.png"))
    # A test call has no consultation: "Share images" explains instead of sharing.
    widget.share.click()
    last = widget.chat.messages.item(widget.chat.messages.count() - 1).text()
    assert "shared" in last or "共享" in last
    widget.hangup.click()
    qtbot.waitUntil(lambda: page.stack.currentIndex() == 0, timeout=10_000)
    assert page.service.controller.phase is CallPhase.ended


def test_incoming_call_rings_in_the_page_and_can_be_answered(
    qtbot, live_hub, settings, clients, request
) -> None:  # noqa: ANN001
    from app.ui.call.incoming import IncomingCallDialog
    from app.ui.pages.call import CallPage
    from hub.demo import DEMO_PASSWORD
    from tests.media.conftest import C_LI, consultation_id

    client = HubClient(live_hub.url)
    tokens = client.login("specialist2", DEMO_PASSWORD)
    context = AppContext(
        settings=settings, hub_url=live_hub.url, user=tokens.user, services={"hub_client": client}
    )
    page = CallPage(context)
    qtbot.addWidget(page)
    request.addfinalizer(page.service.stop)
    page.show()
    qtbot.waitUntil(lambda: page.service.online, timeout=10_000)
    doctor = clients("doctor")
    doctor.run(doctor.controller.call(consultation_id(C_LI)))
    qtbot.waitUntil(lambda: isinstance(page._ringing, IncomingCallDialog), timeout=10_000)
    dialog = page._ringing
    assert "陈志强" in " ".join(w.text() for w in dialog.findChildren(type(page.connection)))
    dialog.findChild(type(page.test_button), "accept").click()
    qtbot.waitUntil(lambda: page.call_widget.remote._image is not None, timeout=20_000)
    doctor.run(doctor.controller.hangup())
    qtbot.waitUntil(lambda: page.stack.currentIndex() == 0, timeout=10_000)
    assert page.result.text() in ("The other side hung up.", "对方已挂断。")
