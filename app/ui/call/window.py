"""The call window: remote video, local preview, status, bars, controls, chat, stats."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.media.call import CallEvent, CallPhase
from app.media.engine import MediaState
from app.sync.call_subject import CallSubject
from app.ui.call.bars import NetworkBars
from app.ui.call.chat import ChatPanel
from app.ui.call.service import CallService
from app.ui.call.stats_panel import StatsPanel
from app.ui.call.subject import patient_line, purpose_line
from app.ui.call.video_view import VideoView


class CallWidget(QWidget):
    """Everything shown during a call; driven by ``CallService`` events."""

    closed = Signal()
    open_case_requested = Signal(str)  # consultation id

    def __init__(self, service: CallService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.phase = CallPhase.idle
        self.media_state: MediaState | None = None
        self.state_since = time.monotonic()
        self.remote_paused: str | None = None

        self.remote = VideoView(service.remote_slot)
        self.remote.setObjectName("remote_video")
        self.preview = VideoView(service.preview_slot, interval_ms=66)
        self.preview.setObjectName("local_preview")
        self.preview.setFixedSize(176, 132)
        self.status = QLabel()
        self.status.setObjectName("call_status")
        # Whose data this call is about, always in view (patient safety), and the way to
        # the case from the call.
        self.patient = QLabel()
        self.patient.setObjectName("call_patient")
        self.patient.setTextFormat(Qt.TextFormat.PlainText)
        bold = self.patient.font()
        bold.setBold(True)
        self.patient.setFont(bold)
        self.purpose = QLabel()
        self.purpose.setObjectName("call_purpose")
        self.purpose.setTextFormat(Qt.TextFormat.PlainText)
        self.purpose.setWordWrap(True)
        self.open_case = QPushButton(self.tr("Open case"))
        self.open_case.setObjectName("open_case")
        self.open_case.setToolTip(self.tr("Open this consultation's case; the call continues"))
        self.subject_consultation = ""
        self.open_case.clicked.connect(
            lambda: self.open_case_requested.emit(self.subject_consultation)
        )
        self.set_subject(None, "")
        self.bars = NetworkBars()
        # What is wrong with this PC's camera, microphone or speaker, in words.
        self.device_note = QLabel()
        self.device_note.setObjectName("device_note")
        self.device_note.setStyleSheet("color:#b26a00;")
        self.device_note.setWordWrap(True)
        self.device_note.setVisible(False)
        self.no_speaker = False

        self.mute = QPushButton(self.tr("Mute"))
        self.mute.setCheckable(True)
        self.mute.toggled.connect(self._mute)
        self.camera = QPushButton(self.tr("Camera off"))
        self.camera.setCheckable(True)
        self.camera.toggled.connect(self._camera)
        self.audio_only = QPushButton(self.tr("Audio only"))
        self.audio_only.setCheckable(True)
        self.audio_only.setToolTip(self.tr("Stop video to keep the voice clear on a weak link"))
        self.audio_only.toggled.connect(self.service.set_audio_only)
        self.share = QPushButton(self.tr("Share images"))
        self.share.setObjectName("share_images")
        self.share.setToolTip(
            self.tr("Show a series of this consultation to the other side, with live annotations")
        )
        self.share.clicked.connect(self.service.share_requested.emit)
        self.stats_button = QPushButton(self.tr("Statistics"))
        self.stats_button.setCheckable(True)
        self.hangup = QPushButton(self.tr("Hang up"))
        self.hangup.setObjectName("hangup")
        self.hangup.setStyleSheet("background:#c62828;color:white;padding:4px 14px;")
        self.hangup.clicked.connect(self._hang_up)

        self.chat = ChatPanel()
        self.chat.send_requested.connect(self._send_chat)
        self.stats = StatsPanel()
        self.stats.setVisible(False)
        self.stats_button.toggled.connect(self.stats.setVisible)

        subject_row = QHBoxLayout()
        subject_text = QVBoxLayout()
        subject_text.addWidget(self.patient)
        subject_text.addWidget(self.purpose)
        subject_row.addLayout(subject_text, 1)
        subject_row.addWidget(self.open_case, 0, Qt.AlignmentFlag.AlignTop)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.device_note)
        top.addWidget(self.bars)
        video_box = QWidget()
        video_layout = QVBoxLayout(video_box)
        video_layout.setContentsMargins(0, 0, 0, 0)
        video_layout.addLayout(subject_row)
        video_layout.addLayout(top)
        video_layout.addWidget(self.remote, 1)
        controls = QHBoxLayout()
        controls.addWidget(self.preview)
        controls.addStretch(1)
        buttons = (self.mute, self.camera, self.audio_only, self.share, self.stats_button)
        for button in (*buttons, self.hangup):
            controls.addWidget(button, 0, Qt.AlignmentFlag.AlignBottom)
        video_layout.addLayout(controls)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.stats)
        side_layout.addWidget(self.chat, 1)
        splitter = QSplitter()
        splitter.addWidget(video_box)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self._ticker = QTimer(self)
        self._ticker.timeout.connect(self._refresh_status)
        self._ticker.start(500)
        service.call_event.connect(self.on_event)
        self._refresh_status()

    def set_subject(self, subject: CallSubject | None, consultation_id: str) -> None:
        """Show the call's patient and purpose (a test call has none)."""
        self.subject_consultation = consultation_id
        self.subject = subject
        has_case = bool(consultation_id)
        self.patient.setVisible(has_case)
        self.purpose.setVisible(has_case)
        self.open_case.setVisible(has_case)
        if has_case:
            self.patient.setText(patient_line(subject))
            self.purpose.setText(purpose_line(subject))

    # ---- events ------------------------------------------------------------------------

    def on_event(self, event: CallEvent) -> None:
        """Apply one ``CallEvent`` (GUI thread)."""
        if event.kind == "phase" and event.phase is not None:
            self.phase = event.phase
            if event.phase is CallPhase.active:
                self.media_state, self.state_since = MediaState.connecting, time.monotonic()
            if event.phase is CallPhase.ended:
                self.remote.clear()
                self.end_reason = event.reason
        elif event.kind == "media" and event.media is not None:
            m = event.media
            if m.kind == "state" and m.state is not None:
                self.media_state = m.state
                self.state_since = time.monotonic()
            elif m.kind == "stats" and m.stats is not None:
                self.bars.set_bars(m.stats.bars)
                self.stats.show_stats(m.stats)
            elif m.kind == "chat" and m.chat is not None:
                self.chat.add_message(m.chat.author, m.chat.text, m.chat.sent_at)
            elif m.kind == "remote_video":
                self.remote_paused = m.remote_video_paused
            elif m.kind == "speaker":
                self.no_speaker = m.reason == "no_speaker"
        self._refresh_device_note()
        self._refresh_status()

    def device_notes(self) -> list[str]:
        """Sentences for what this PC's devices cannot do in this call."""
        texts = {
            "no_camera_test_pattern": self.tr(
                "No camera found: the other side sees a test pattern"
            ),
            "camera_disabled_by_policy": self.tr("Camera turned off by your IT department"),
            "no_microphone": self.tr("No microphone found: the other side cannot hear you"),
            "microphone_failed": self.tr(
                "The microphone could not be opened: the other side cannot hear you"
            ),
            "microphone_disabled_by_policy": self.tr("Microphone turned off by your IT department"),
        }
        notes = [texts[n] for n in self.service.notes if n in texts]
        if self.no_speaker:
            notes.append(self.tr("No speaker found: the other side cannot be heard"))
        return notes

    def _refresh_device_note(self) -> None:
        notes = self.device_notes()
        self.device_note.setText("\n".join(notes))
        self.device_note.setVisible(bool(notes))

    def _refresh_status(self) -> None:
        seconds = int(time.monotonic() - self.state_since)
        if self.phase is CallPhase.calling:
            text = self.tr("Calling…")
        elif self.phase is CallPhase.active and self.media_state is MediaState.reconnecting:
            text = self.tr("Connection lost, reconnecting… {0} s").format(seconds)
        elif self.phase is CallPhase.active and self.media_state is MediaState.connected:
            text = self.tr("Connected")
        elif self.phase is CallPhase.active:
            text = self.tr("Connecting…")
        elif self.phase is CallPhase.ended:
            text = self.tr("Call ended")
        else:
            text = ""
        self.status.setText(text)
        reconnecting = (
            self.media_state is MediaState.reconnecting and self.phase is CallPhase.active
        )
        self.status.setStyleSheet("color:#b26a00;font-weight:bold;" if reconnecting else "")
        if reconnecting:
            self.bars.set_bars(0)
        captions = {
            "camera_off": self.tr("The other side turned their camera off"),
            "low_bandwidth": self.tr("Video paused: the network is too slow. Voice continues."),
            "audio_only": self.tr("The other side switched to audio only"),
        }
        self.remote.set_caption(
            self.tr("Reconnecting…") if reconnecting else captions.get(self.remote_paused or "", "")
        )

    # ---- user actions ------------------------------------------------------------------

    def _mute(self, on: bool) -> None:
        self.mute.setText(self.tr("Unmute") if on else self.tr("Mute"))
        self.service.set_muted(on)

    def _camera(self, off: bool) -> None:
        self.camera.setText(self.tr("Camera on") if off else self.tr("Camera off"))
        self.preview.setVisible(not off)
        self.service.set_camera(not off)

    def _hang_up(self) -> None:
        if self.phase is CallPhase.calling:
            self.service.cancel()
        else:
            self.service.hangup()
        self.closed.emit()

    def _send_chat(self, text: str) -> None:
        self.service.send_chat(text)
        self.chat.add_message(self.tr("Me"), text)
