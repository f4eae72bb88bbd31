"""The Call page: signaling status, the test call, missed calls, and the call window.

Calls about a consultation are started from the consultation (``call_service(context)
.call(consultation_id)``); this page shows the call while it runs. Incoming calls ring
through ``CallService`` whatever page is open (the dialog is parented to this page's window).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.media.call import CallEvent, CallPhase
from app.sync.call_subject import CallSubject
from app.ui.call.incoming import IncomingCallDialog
from app.ui.call.service import CallService, call_service
from app.ui.call.subject import look_up_subject
from app.ui.call.window import CallWidget
from app.ui.main_window import main_window_of

if TYPE_CHECKING:
    from app.ui.viewer.coview_link import CoviewLink


class CallPage(QWidget):
    """Idle view (test call, missed calls) or the live call."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._ringing: IncomingCallDialog | None = None
        self.service: CallService = call_service(context)
        self.connection = QLabel()
        self.connection.setObjectName("signaling_status")
        self.test_button = QPushButton(self.tr("Test call"))
        self.test_button.setToolTip(
            self.tr(
                "Call the hub's echo service: you see and hear yourself as the other side would."
            )
        )
        self.test_button.clicked.connect(self.service.test_call)
        self.missed = QListWidget()
        self.missed.setObjectName("missed_calls")
        self.result = QLabel()
        self.result.setWordWrap(True)

        idle = QWidget()
        idle_layout = QVBoxLayout(idle)
        row = QHBoxLayout()
        row.addWidget(self.connection, 1)
        row.addWidget(self.test_button)
        idle_layout.addLayout(row)
        intro = QLabel(
            self.tr(
                "Start a video consultation from a scheduled consultation, or make "
                "a test call to check your camera, microphone and network."
            )
        )
        intro.setWordWrap(True)
        idle_layout.addWidget(intro)
        idle_layout.addWidget(self.result)
        idle_layout.addWidget(QLabel(self.tr("Missed calls")))
        idle_layout.addWidget(self.missed, 1)

        self.call_widget = CallWidget(self.service)
        self.stack = QStackedLayout(self)
        self.stack.addWidget(idle)
        self.stack.addWidget(self.call_widget)
        self.call_widget.open_case_requested.connect(self.open_case)
        self.service.share_requested.connect(self.share_images)
        self.coview_link: CoviewLink | None = None  # co-viewing of the current call
        self.service.call_event.connect(self.on_event)
        self.service.connection.connect(self._show_connection)
        self._show_connection(self.service.online)

    def _show_connection(self, up: bool) -> None:
        self.connection.setText(
            self.tr("Ready for calls")
            if up
            else self.tr("Not connected to the hub: calls are unavailable")
        )
        self.test_button.setEnabled(up)

    def on_event(self, event: CallEvent) -> None:
        """Switch views, ring, list missed calls."""
        if event.kind == "phase" and event.phase in (CallPhase.calling, CallPhase.active):
            self.stack.setCurrentWidget(self.call_widget)
            self._show_subject(self.service.consultation_id)
        elif event.kind == "phase" and event.phase is CallPhase.ended:
            self.stack.setCurrentIndex(0)
            self.result.setText(self.end_text(event.reason))
            self.call_widget.set_subject(None, "")
            if self._ringing is not None:  # the caller gave up, or another device answered
                dialog, self._ringing = self._ringing, None
                dialog.done(0)
        elif event.kind == "incoming" and event.incoming is not None:
            dialog = IncomingCallDialog(event.incoming, parent=self.window())
            self._ringing = dialog
            look_up_subject(self.context, event.incoming.consultation_id, dialog.set_subject)
            dialog.accepted.connect(self._answer)
            dialog.rejected.connect(self._refuse)
            dialog.open()  # not exec(): the GUI keeps running while it rings
        elif event.kind == "missed" and event.missed is not None:
            when = time.strftime("%m-%d %H:%M", time.localtime(event.missed.at))
            self.missed.addItem(
                f"{when}  {event.missed.caller.display_name}  {event.missed.caller.facility_name}"
            )

    def _show_subject(self, consultation_id: str) -> None:
        if consultation_id == self.call_widget.subject_consultation:
            return
        self.call_widget.set_subject(None, consultation_id)
        if consultation_id:
            self.call_widget.patient.setText(self.tr("Patient: looking up…"))

            def show(subject: CallSubject | None) -> None:
                if self.call_widget.subject_consultation == consultation_id:
                    self.call_widget.set_subject(subject, consultation_id)

            look_up_subject(self.context, consultation_id, show)

    def open_case(self, consultation_id: str) -> None:
        """Open the consultation's case while the call goes on.

        Hook for the workflow UI: its main window's ``open_case(consultation_id)`` shows
        the case screen; until that exists the Consultations page is shown."""
        window = self.window()
        opener = getattr(window, "open_case", None)
        if callable(opener):
            opener(consultation_id)
        elif hasattr(window, "show_page"):
            window.show_page("consultations")

    def share_images(self) -> None:
        """Share the series open in the Viewer with the other side (co-viewing).

        Until the case screen lists the consultation's series, the series shown in the
        Viewer page's active viewport is shared; the consultation's patient (from the call
        subject) must match the series' patient or sharing is refused with a message."""
        from app.dicom_viewer.coview import PatientIdentity
        from app.protocol.datachannel import SharedSeries
        from app.ui.viewer.coview_link import start_coview

        window = main_window_of(self)
        consultation_id = self.service.consultation_id
        subject = getattr(self.call_widget, "subject", None)
        if window is None or not consultation_id or subject is None:
            self.call_widget.chat.add_message(
                "YiQiao",
                self.tr("Images can be shared in a consultation call whose patient is known here."),
            )
            return
        viewer = window.viewer_page(show=False).viewer
        vp = viewer.active
        if vp is None or vp.series is None or not vp.series.instances:
            window.show_page("viewer")
            viewer.show_problem(self.tr("Open a series of this consultation, then share it."))
            return
        if self.coview_link is None or self.coview_link.viewer is not viewer:
            me = self.service.controller.author if self.service.controller else ""
            patient = PatientIdentity(subject.patient_number, subject.patient_name)
            self.coview_link = start_coview(
                viewer, self.service, me or viewer.author, patient, consultation_id
            )
            self.coview_link.refused.connect(viewer.show_problem)
        ds = vp.series.instances[0].header
        window.show_page("viewer")
        self.coview_link.share(
            SharedSeries(
                consultation_id=consultation_id,
                study_uid=str(ds.get("StudyInstanceUID", "")),
                series_uid=vp.series.uid,
                patient_id=str(ds.get("PatientID", "")),
                patient_name=str(ds.get("PatientName", "")),
                description=vp.series.description[:200],
                instances=len(vp.series.instances),
            )
        )

    def _answer(self) -> None:
        self._ringing = None
        self.service.accept()

    def _refuse(self) -> None:
        if self._ringing is not None:
            self._ringing = None
            self.service.decline()

    def end_text(self, reason: str) -> str:
        """Why the last call ended, in words."""
        texts = {
            "declined": self.tr("The call was declined."),
            "busy": self.tr("The other side is in another call."),
            "unavailable": self.tr("Nobody is available to answer; they will see a missed call."),
            "no_answer": self.tr("No answer."),
            "not_participant": self.tr("You do not take part in this consultation."),
            "peer_lost": self.tr("The connection to the other side was lost."),
            "peer_gone": self.tr("The connection to the other side was lost."),
            "hub_unreachable": self.tr("The hub cannot be reached."),
            "cancelled": self.tr("The caller hung up."),
            "hangup": self.tr("The other side hung up."),
        }
        return texts.get(reason, self.tr("Call ended."))
