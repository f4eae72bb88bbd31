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
from app.ui.workflow.wording import problems_text

if TYPE_CHECKING:
    from app.ui.viewer.coview_link import CoviewLink
    from app.ui.workflow.case_model import ConsultationSeries


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
        self._preparing = False
        self._share_when_ready = False
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
            if event.phase is CallPhase.active:
                self._prepare_coview()
        elif event.kind == "phase" and event.phase is CallPhase.ended:
            if self.coview_link is not None:
                self.service.drop_coview(self.coview_link.session)
                self.coview_link = None  # it saved and closed itself (coview_link)
            self._share_when_ready = False
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
            # Parented to the window, a closed dialog would live as long as the app: one more
            # per call (found by bench/call_soak.py's consecutive calls).
            dialog.finished.connect(dialog.deleteLater)
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
                    self._prepare_coview()  # ready before the other side shares

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
        """Share the consultation's images with the other side (co-viewing): the series on
        screen if it belongs to the consultation, else its first series. Only series attached
        to the consultation can be shared; the patient must be the consultation's."""
        window = self.window()
        consultation_id = self.service.consultation_id
        subject = getattr(self.call_widget, "subject", None)
        sync = self.context.services.get("sync")
        if not hasattr(window, "page") or not consultation_id or subject is None or sync is None:
            self.call_widget.chat.add_message(
                "YiQiao",
                self.tr("Images can be shared in a consultation call whose patient is known here."),
            )
            return
        self._share_when_ready = True
        if self.coview_link is None:
            self._prepare_coview()
        else:
            self._share_now()

    def _prepare_coview(self) -> None:
        """Join the Viewer page to this call for co-viewing (either side may share first)."""
        from app.dicom_viewer.coview import PatientIdentity
        from app.ui.bridge import run_in_worker
        from app.ui.viewer.coview_link import start_coview
        from app.ui.workflow.case_model import consultation_series

        window = main_window_of(self)
        consultation_id = self.service.consultation_id
        subject = getattr(self.call_widget, "subject", None)
        sync = self.context.services.get("sync")
        if (
            self._preparing
            or self.coview_link is not None
            or window is None
            or not consultation_id
            or subject is None
            or sync is None
            or self.service.in_call_about != consultation_id
        ):
            return
        self._preparing = True

        def ready(source: ConsultationSeries) -> None:
            self._preparing = False
            if self.service.in_call_about != consultation_id or self.coview_link is not None:
                return
            viewer = window.viewer_page(show=False).viewer
            me = self.service.controller.author if self.service.controller else ""

            def attach(paths: list, title: str) -> None:  # on a worker (CoviewLink.save)
                from app.sync.attachments import attach_files

                attach_files(
                    sync.store, sync.blobs, paths, source.patient_doc_id, consultation_id, title
                )

            link = start_coview(
                viewer,
                self.service,
                me or viewer.author,
                PatientIdentity(subject.patient_number, subject.patient_name),
                consultation_id,
                attach,
                source,
            )
            link.refused.connect(viewer.show_problem)
            link.refused.connect(lambda text: self.call_widget.chat.add_message("YiQiao", text))
            link.share_started.connect(lambda: self._show_shared(source))
            self.coview_link = link
            if self._share_when_ready:
                self._share_now()

        def failed(exc: BaseException) -> None:
            self._preparing = False
            self.call_widget.chat.add_message("YiQiao", problems_text(exc))

        run_in_worker(consultation_series, sync, consultation_id, on_done=ready, on_error=failed)

    def _share_now(self) -> None:
        self._share_when_ready = False
        if self.coview_link is not None:
            self.coview_link.share_from_case()

    def _show_shared(self, source: ConsultationSeries) -> None:
        """Sharing began: the Viewer page comes forward under the case's patient banner."""
        window = main_window_of(self)
        if window is None:
            return
        page = window.viewer_page(show=False)
        patient = getattr(source, "patient", None)
        if patient and hasattr(page, "banner"):
            page.banner.set_patient(patient)
            page.banner.show()
        window.show_page("viewer")

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
