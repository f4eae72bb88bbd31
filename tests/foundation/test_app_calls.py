"""The app rings for an incoming call whichever page is open (call service starts at sign-in)."""

from __future__ import annotations

import shiboken6
from PySide6.QtWidgets import QApplication

from app.config import load_settings
from app.context import AppContext
from tests.media.conftest import C_LI, clients, consultation_id, live_hub  # noqa: F401 - fixtures


def _sign_in(qtbot, controller, username: str) -> None:  # noqa: ANN001
    """Sign in as a user does: the sign-in dialog from the window, name and password, the
    button; then the controller's own sign-in handling runs."""
    from hub.demo import DEMO_PASSWORD

    controller.show_login()
    dialog = controller.login_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=10_000)
    dialog.username.setText(username)
    dialog.password.setText(DEMO_PASSWORD)
    dialog.sign_in_button.click()
    qtbot.waitUntil(lambda: controller.context.user is not None, timeout=30_000)
    assert controller.context.user.username == username
    assert controller.context.services.get("hub_client") is not None


def test_incoming_call_rings_while_on_the_consultations_page(qtbot, live_hub, clients, request):  # noqa: F811
    from app.ui.app import ClientController
    from app.ui.call.incoming import IncomingCallDialog

    context = AppContext(settings=load_settings(registry={}), hub_url=live_hub.url)
    controller = ClientController(QApplication.instance(), context)
    qtbot.addWidget(controller.window)
    controller.window.show()
    assert controller.window.stack.currentIndex() == 0  # Consultations
    _sign_in(qtbot, controller, "specialist2")
    request.addfinalizer(controller.sign_out)  # as a user leaves: the hub drops its sockets
    qtbot.waitUntil(lambda: "call" in controller.window._pages, timeout=30_000)
    page = controller.window._pages["call"]
    request.addfinalizer(page.service.stop)
    qtbot.waitUntil(lambda: page.service.online, timeout=10_000)
    assert controller.window.stack.currentIndex() == 0  # still where the user was

    doctor = clients("doctor")
    doctor.run(doctor.controller.call(consultation_id(C_LI)))
    qtbot.waitUntil(lambda: isinstance(page._ringing, IncomingCallDialog), timeout=10_000)
    assert controller.window.stack.currentWidget() is page  # brought forward to answer
    dialog = page._ringing
    doctor.run(doctor.controller.hangup())
    # The caller gave up: the dialog goes away for good, not kept for the app's lifetime
    # (parented to the window, one was left behind per incoming call).
    qtbot.waitUntil(lambda: page._ringing is None and not shiboken6.isValid(dialog), timeout=10_000)


def test_call_button_on_a_scheduled_consultation_rings_the_specialist(
    qtbot,
    live_hub,  # noqa: F811
    clients,  # noqa: F811
    request,
):
    """The clinic doctor opens the scheduled consultation's case and calls; the cardiologist
    rings."""
    from app.media.call import CallPhase
    from app.ui.app import ClientController
    from app.ui.sync.wiring import sync_session

    cardiologist = clients("specialist2")
    context = AppContext(settings=load_settings(registry={}), hub_url=live_hub.url)
    controller = ClientController(QApplication.instance(), context)
    qtbot.addWidget(controller.window)
    controller.window.show()
    _sign_in(qtbot, controller, "doctor")
    request.addfinalizer(controller.sign_out)  # as a user leaves: the hub drops its sockets
    page = controller.window.show_page("consultations")
    qtbot.waitUntil(lambda: sync_session(context) is not None, timeout=20_000)
    request.addfinalizer(lambda: sync_session(context) and sync_session(context).close())

    def scheduled_row():  # noqa: ANN202
        return next(
            (
                r
                for r in page.model.rows
                if r.patient and r.patient.get("name") == "李建国" and r.status == "scheduled"
            ),
            None,
        )

    qtbot.waitUntil(lambda: scheduled_row() is not None, timeout=30_000)
    case = controller.window.open_case(scheduled_row().id)
    # Scheduled with the cardiologist: the case offers the call (from the shared table).
    qtbot.waitUntil(
        lambda: case.case is not None and "start_call" in case.action_buttons, timeout=20_000
    )
    qtbot.waitUntil(lambda: "call" in controller.window._pages, timeout=30_000)
    call_page = controller.window._pages["call"]
    request.addfinalizer(call_page.service.stop)
    qtbot.waitUntil(lambda: call_page.service.online, timeout=10_000)
    case.action_buttons["start_call"].click()
    assert controller.window.stack.currentWidget() is call_page
    cardiologist.wait_for(
        lambda: cardiologist.controller.phase is CallPhase.incoming,
        what="the cardiologist's phone rings",
    )
    call_page.service.cancel()
