"""The app rings for an incoming call whichever page is open (call service starts at sign-in)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from app.config import load_settings
from app.context import AppContext
from app.sync.hub_client import HubClient
from tests.media.conftest import C_LI, clients, consultation_id, live_hub  # noqa: F401 - fixtures


def test_incoming_call_rings_while_on_the_consultations_page(qtbot, live_hub, clients, request):  # noqa: F811
    from app.ui.app import ClientController
    from app.ui.call.incoming import IncomingCallDialog
    from hub.demo import DEMO_PASSWORD

    context = AppContext(settings=load_settings(registry={}), hub_url=live_hub.url)
    controller = ClientController(QApplication.instance(), context)
    qtbot.addWidget(controller.window)
    controller.window.show()
    assert controller.window.stack.currentIndex() == 0  # Consultations
    client = HubClient(live_hub.url)
    tokens = client.login("specialist2", DEMO_PASSWORD)
    context.services["hub_client"] = client
    context.user = tokens.user
    context.changed("user")  # what a successful sign-in does
    qtbot.waitUntil(lambda: "call" in controller.window._pages, timeout=30_000)
    page = controller.window._pages["call"]
    request.addfinalizer(page.service.stop)
    qtbot.waitUntil(lambda: page.service.online, timeout=10_000)
    assert controller.window.stack.currentIndex() == 0  # still where the user was

    doctor = clients("doctor")
    doctor.run(doctor.controller.call(consultation_id(C_LI)))
    qtbot.waitUntil(lambda: isinstance(page._ringing, IncomingCallDialog), timeout=10_000)
    assert controller.window.stack.currentWidget() is page  # brought forward to answer
    doctor.run(doctor.controller.hangup())
