"""The viewer's side of co-viewing: forwards the active viewport's view and our annotations to
the ``CoviewSession`` and applies the other side's; shows the patient banner, the presenter,
follow / look freely, the laser dot, a preview while the series is fetched, and saves the
session into the consultation (GSPS + TID 1500 SR) on demand or when the call ends.

Entry point for the case screen and the call window: ``start_coview``.
"""

from __future__ import annotations

import io
import logging
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pydicom
from PySide6.QtCore import (
    QBuffer,
    QCoreApplication,
    QEvent,
    QIODevice,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QMouseEvent, QPixmap
from PySide6.QtWidgets import QBoxLayout, QCheckBox, QHBoxLayout, QLabel, QPushButton, QWidget

from app.dicom_viewer.coview import CoviewRefused, CoviewSession, PatientIdentity
from app.dicom_viewer.index import display_name
from app.dicom_viewer.pipeline import Window, modality_values
from app.dicom_viewer.view_state import ViewState
from app.protocol.datachannel import CoviewView, SharedSeries
from app.ui.bridge import run_in_worker
from app.ui.viewer.coview_fetch import SeriesShower
from app.ui.viewer.problem_words import viewer_problem_text
from app.ui.viewer.viewer_widget import ViewerWidget
from app.ui.viewer.viewport import Viewport
from app.ui.workflow.case_model import ConsultationSeries

log = logging.getLogger(__name__)


def refusal_text(exc: CoviewRefused) -> str:
    """The user's words for a refused share."""
    if exc.code == "other_patient":
        return (
            QCoreApplication.translate(
                "Coview",
                "This series belongs to %1, not to this consultation's patient %2. It was not shared.",
            )
            .replace("%1", display_name(exc.params.get("series_patient", "?")))
            .replace("%2", display_name(exc.params.get("patient", "?")))
        )
    return QCoreApplication.translate(
        "Coview", "This series is not part of this consultation. It was not shared."
    )


def shared_series(consultation_id: str, series: Any) -> SharedSeries:
    """What the other side is told about ``series`` (an ``index.Series``) when it is shared."""
    ds = series.instances[0].header
    return SharedSeries(
        consultation_id=consultation_id,
        study_uid=str(ds.get("StudyInstanceUID", "")),
        series_uid=series.uid,
        patient_id=str(ds.get("PatientID", "")),
        patient_name=str(ds.get("PatientName", "")),
        description=series.description[:200],
        instances=len(series.instances),
    )


class CoviewBar(QWidget):
    """Patient banner and co-viewing controls above the viewer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("coview_bar")
        self.setStyleSheet("#coview_bar{background:#263238;} QLabel{color:white;}")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.patient = QLabel()
        self.patient.setObjectName("coview_patient")
        self.patient.setTextFormat(Qt.TextFormat.PlainText)
        bold = self.patient.font()
        bold.setBold(True)
        self.patient.setFont(bold)
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.follow = QCheckBox(QCoreApplication.translate("Coview", "Follow the presenter"))
        self.follow.setStyleSheet("color:white;")
        self.presenter = QPushButton(QCoreApplication.translate("Coview", "Ask to present"))
        self.save = QPushButton(QCoreApplication.translate("Coview", "Save to consultation"))
        self.stop = QPushButton(QCoreApplication.translate("Coview", "Stop sharing"))
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.patient)
        row.addWidget(self.status, 1)
        for w in (self.follow, self.presenter, self.save, self.stop):
            row.addWidget(w)


class CoviewLink(QObject):
    """Joins one ``ViewerWidget`` and one ``CoviewSession`` (GUI thread)."""

    refused = Signal(str)  # a translated message
    saved = Signal(object)  # app.dicom_viewer.coview_save.SavedSession
    save_failed = Signal(str)
    share_started = Signal()  # a share began (ours or the other side's): show the viewer

    def __init__(
        self,
        viewer: ViewerWidget,
        session: CoviewSession,
        attach: Any = None,
        source: ConsultationSeries | None = None,
    ) -> None:
        super().__init__(viewer)
        self.viewer, self.session = viewer, session
        self.attach = attach  # (paths, title) -> None: files into the consultation
        self.source = source
        self.fetched: tuple[int, int] | None = None  # progress of the series being fetched
        self.closed = False
        self.started_here = False  # we shared first: we save the session at hang-up
        self.shower: SeriesShower | None = None
        if source is not None:
            session.allowed_series = source.allowed
            self.shower = SeriesShower(viewer, source)
            self.shower.progress.connect(self._fetch_progress)
            self.shower.failed.connect(self._fetch_failed)
        self._applying = False
        session.on_change = self._changed
        session.make_preview = self._make_preview
        self.bar = CoviewBar()
        layout = viewer.layout()
        assert isinstance(layout, QBoxLayout)  # ViewerWidget stacks its parts vertically
        layout.insertWidget(0, self.bar)
        # While the shared series is fetched, the presenter's preview fills the image area.
        self.preview_page = QLabel()
        self.preview_page.setObjectName("coview_preview")
        self.preview_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_page.setStyleSheet("background: black;")
        viewer.stack.addWidget(self.preview_page)
        self.bar.follow.setChecked(True)
        self.bar.follow.toggled.connect(self._follow_toggled)
        self.bar.presenter.clicked.connect(self._presenter_clicked)
        self.bar.save.clicked.connect(lambda: self.save())
        self.bar.stop.clicked.connect(self.stop)
        viewer.annotations.listeners.append(self._local_annotations)
        self.timer = QTimer(self)
        self.timer.setInterval(50)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        for vp in viewer.viewports:
            vp.installEventFilter(self)
        self._refresh_bar()

    # ---- viewer → session --------------------------------------------------------

    def current_view(self) -> CoviewView | None:
        vp = self.viewer.active
        ref = vp.current if vp is not None else None
        if vp is None or vp.series is None or ref is None:
            return None
        st = vp.state
        win = st.window
        return CoviewView(
            series_uid=vp.series.uid,
            sop_instance_uid=ref.instance.sop_instance_uid,
            frame_index=st.frame_index,
            window_center=win.center if win else None,
            window_width=win.width if win and win.width > 0 else None,
            zoom=st.zoom,
            center=st.center,
            rotation=st.rotation % 360,  # type: ignore[arg-type]
            flip_h=st.flip_h,
            invert=st.invert,
            layout=getattr(self.viewer, "layout_shape", (1, 1)),
        )

    def _make_preview(self, view: CoviewView) -> tuple[str, bytes] | None:
        """A JPEG of what our active viewport shows, ~256 px, a few KB."""
        vp = self.viewer.active
        if vp is None or vp.current is None or vp._qimage is None:
            return None  # nothing drawn yet: asked again on the next tick
        image = (
            vp.grab()
            .toImage()
            .scaled(
                256,
                256,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        # PySide6's stub types the format as bytes; the binding takes only str.
        image.save(buffer, "JPEG", 60)  # type: ignore[call-overload]
        return "image/jpeg", bytes(buffer.data().data())

    def _tick(self) -> None:
        shared = self.session.series
        if (
            self.session.presenting
            and shared is not None
            and not self._applying
            and self.source is not None
        ):
            vp = self.viewer.active
            on_screen = vp.series if vp is not None else None
            if (
                on_screen is not None
                and on_screen.uid != shared.series_uid
                and on_screen.uid in self.source.series
            ):
                # The presenter opened another series of the consultation: share that one.
                self.share(shared_series(self.session.consultation_id, on_screen))
        if self.session.active and not self._applying:
            view, current = self.current_view(), self.session.series
            if view is not None and current is not None and view.series_uid == current.series_uid:
                self.session.set_view(view)
        self.session.flush()

    def _local_annotations(self) -> None:
        if self._applying or not self.session.active:
            return
        me = self.session.me
        here = {a.id: a for a in self.viewer.annotations.items if a.kind != "calibration"}
        shared = self.session.annotations
        for ann_id, ann in here.items():
            if ann_id not in shared:
                if ann.author in ("", me, self.viewer.author):
                    self.session.add_annotation(ann)
            elif shared[ann_id].author == me and (
                list(shared[ann_id].points) != list(ann.points) or shared[ann_id].text != ann.text
            ):
                self.session.update_annotation(ann)
        for ann_id, mark in list(shared.items()):
            if ann_id not in here and mark.author == me:
                self.session.delete_annotation(ann_id)
        self._show_annotations()  # someone else's mark cannot be removed here: put it back

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if (
            isinstance(obj, Viewport)
            and isinstance(event, QMouseEvent)
            and event.type() == QEvent.Type.MouseMove
            and self.session.presenting
            and obj.current is not None
        ):
            x, y = obj.to_image(event.position())
            self.session.move_pointer(obj.current.instance.sop_instance_uid, x, y)
        elif isinstance(obj, Viewport) and event.type() == QEvent.Type.Leave:
            self.session.move_pointer("", None, None)
        return False

    # ---- session → viewer --------------------------------------------------------

    def _changed(self, what: str) -> None:
        if what == "share":
            if self.session.active:
                if not self.session.presenting:
                    self._bring_shared()
                self.share_started.emit()
            elif self.shower is not None:
                self.shower.cancel()
                self.fetched = None
        if what == "view":
            self._apply_view()
        elif what == "annotations":
            self._show_annotations()
        elif what == "pointer":
            for vp in self.viewer.viewports:
                vp.laser = self.session.pointer
                vp.update()
        elif what == "preview":
            self._show_preview()
        elif what == "refused":
            self.refused.emit(
                QCoreApplication.translate(
                    "Coview",
                    "The other side shared images of another patient; they were not shown.",
                )
            )
        self._refresh_bar()

    def _bring_shared(self) -> None:
        """The other side shares a series: show it here, fetching it first if need be."""
        shared = self.session.series
        if shared is None:
            return  # the share ended before this ran
        uid = shared.series_uid
        if self.shower is not None:
            self.fetched = None
            self.shower.show(uid, self._arrived)
            return
        for _p, _s, series in self.viewer.library.all_series():
            if series.uid == uid and series.frames:
                if self.viewer.active is None or self.viewer.active.series is not series:
                    self.viewer.open_series(series)
                self._arrived()
                return

    def _arrived(self) -> None:
        self.fetched = None
        if not self.session.active:
            return
        self.session.series_arrived()
        self._apply_view()
        self._show_annotations()
        self._show_preview()
        self._refresh_bar()

    def _fetch_progress(self, have: int, total: int) -> None:
        self.fetched = (have, total)
        self._refresh_bar()

    def _fetch_failed(self, detail: str) -> None:
        log.warning("the shared series could not be shown: %s", detail)
        self.fetched = None
        self.refused.emit(
            QCoreApplication.translate(
                "Coview", "The shared series could not be opened on this computer."
            )
        )

    def _apply_view(self) -> None:
        view = self.session.view
        vp = self.viewer.active
        if view is None or vp is None or vp.series is None or vp.series.uid != view.series_uid:
            return
        self._applying = True
        try:
            if tuple(view.layout) != getattr(self.viewer, "layout_shape", (1, 1)):
                self.viewer.set_layout(*view.layout)
                for v in self.viewer.viewports:
                    v.removeEventFilter(self)
                    v.installEventFilter(self)
            index = next(
                (
                    i
                    for i, ref in enumerate(vp.frames)
                    if ref.instance.sop_instance_uid == view.sop_instance_uid
                ),
                min(view.frame_index, max(len(vp.frames) - 1, 0)),
            )
            window = (
                Window(view.window_center, view.window_width)
                if view.window_center is not None and view.window_width
                else None
            )
            vp.state = ViewState(
                window,
                view.zoom,
                view.center,
                view.rotation,
                view.flip_h,
                view.invert,
                vp.state.frame_index,
            )
            vp.set_frame(index)  # emits frame_changed: the slider and linked viewports follow
            vp.render_view()
            vp.update()
        finally:
            self._applying = False

    def _show_annotations(self) -> None:
        self._applying = True
        try:
            local = [a for a in self.viewer.annotations.items if a.kind == "calibration"]
            self.viewer.annotations.items = local + self.session.annotation_list()
            colours = {a.author: a.colour for a in self.session.annotations.values()}
            colours[self.session.me] = self.session.colour_of(self.session.me)
            for vp in self.viewer.viewports:
                vp.author_colours = colours
                vp.update()
        finally:
            self._applying = False

    def _show_preview(self) -> None:
        import base64

        p = self.session.preview
        stack = self.viewer.stack
        if p is None or not self.session.lacking_series:
            if stack.currentWidget() is self.preview_page:
                stack.setCurrentWidget(self.viewer.grid_host)
            return
        pix = QPixmap()
        pix.loadFromData(base64.b64decode(p.data_b64))
        size = stack.size()
        self.preview_page.setPixmap(
            pix.scaled(
                size,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        stack.setCurrentWidget(self.preview_page)

    @property
    def showing_preview(self) -> bool:
        return self.viewer.stack.currentWidget() is self.preview_page

    def _refresh_bar(self) -> None:
        s = self.session
        self.bar.setVisible(s.active)
        if not s.active:
            return
        series = s.series
        if series is None:
            return  # an active session always has its series
        self.bar.patient.setText(
            QCoreApplication.translate("Coview", "Patient: %1 (ID %2)")
            .replace("%1", display_name(series.patient_name))
            .replace("%2", series.patient_id)
        )
        who = QCoreApplication.translate("Coview", "you") if s.presenting else s.presenter
        status = QCoreApplication.translate("Coview", "Shared images · presenter: %1").replace(
            "%1", who
        )
        if s.lacking_series and self.fetched is not None and self.fetched[1]:
            status += " · " + QCoreApplication.translate(
                "Coview", "fetching the series first: %1 of %2 images here, preview shown"
            ).replace("%1", str(self.fetched[0])).replace("%2", str(self.fetched[1]))
        elif s.lacking_series:
            status += " · " + QCoreApplication.translate(
                "Coview", "fetching the series, preview shown"
            )
        if s.presenter_requested_by:
            status += " · " + QCoreApplication.translate("Coview", "%1 asks to present").replace(
                "%1", s.presenter_requested_by
            )
        self.bar.status.setText(status)
        self.bar.follow.setVisible(not s.presenting)
        self.bar.follow.blockSignals(True)
        self.bar.follow.setChecked(s.follow)
        self.bar.follow.blockSignals(False)
        self.bar.presenter.setText(
            QCoreApplication.translate("Coview", "Hand over presenting")
            if s.presenting
            else QCoreApplication.translate("Coview", "Ask to present")
        )
        self.bar.presenter.setEnabled(not s.presenting or bool(s.presenter_requested_by))

    def _follow_toggled(self, on: bool) -> None:
        self.session.set_follow(on)

    def _presenter_clicked(self) -> None:
        s = self.session
        if s.presenting and s.presenter_requested_by:
            s.hand_over(s.presenter_requested_by)
        elif not s.presenting:
            s.request_presenter()
        self._refresh_bar()

    # ---- share, stop, save -------------------------------------------------------

    def share(self, series: SharedSeries) -> bool:
        """Share ``series`` (we present); False with ``refused`` emitted when not allowed."""
        try:
            self.session.start_share(series, uuid.uuid4().hex[:12])
        except CoviewRefused as exc:
            self.refused.emit(refusal_text(exc))
            return False
        self.started_here = True
        self._refresh_bar()
        return True

    def share_from_case(self) -> bool:
        """Share a series of the consultation: the one on screen if it is the consultation's,
        else its first series (opened, or fetched first). False when it has none."""
        if self.source is None or not self.source.series:
            self.refused.emit(
                QCoreApplication.translate("Coview", "This consultation has no images to share.")
            )
            return False
        vp = self.viewer.active
        on_screen = vp.series.uid if vp is not None and vp.series is not None else ""
        uid = on_screen if on_screen in self.source.series else next(iter(self.source.series))
        self.shower.show(uid, self._share_active, with_others=True)  # type: ignore[union-attr]
        return True

    def _share_active(self) -> None:
        vp = self.viewer.active
        if vp is not None and vp.series is not None and vp.series.instances:
            self.share(shared_series(self.session.consultation_id, vp.series))

    def close(self) -> None:
        """Detach from the viewer at the end of the call (the bar goes; marks stay)."""
        if self.closed:
            return
        self.closed = True
        if self.session.active:
            self.stop()
        if self.shower is not None:
            self.shower.cancel()
        self.timer.stop()
        self.session.on_change = lambda what: None
        if self._local_annotations in self.viewer.annotations.listeners:
            self.viewer.annotations.listeners.remove(self._local_annotations)
        for vp in self.viewer.viewports:
            vp.removeEventFilter(self)
            vp.laser = None
        self.bar.hide()
        self.bar.setParent(None)
        self.bar.deleteLater()
        if self.showing_preview:
            self.viewer.stack.setCurrentWidget(self.viewer.grid_host)
        self.viewer.stack.removeWidget(self.preview_page)
        self.preview_page.deleteLater()

    def stop(self) -> None:
        self.session.stop_share()
        for vp in self.viewer.viewports:
            vp.laser = None
        self._refresh_bar()

    def save(self, out_dir: Path | None = None) -> None:
        """Write the session's GSPS and measurement report (worker) and attach them."""
        from app.dicom_viewer.coview_save import save_session

        annotations = self.session.annotation_list()
        if not annotations:
            return
        instances = {}  # every image the viewer holds: marks may be on an earlier series
        for _p, _s, series in self.viewer.library.all_series():
            for instance in series.instances:
                instances[instance.sop_instance_uid] = instance
        wanted = {a.sop_instance_uid for a in annotations}
        folder = out_dir or Path(tempfile.mkdtemp(prefix="yiqiao-coview-"))
        me = self.session.me
        attach = self.attach

        def work() -> object:
            images = {s: _read(instances[s]) for s in wanted if s in instances}
            saved = save_session(
                folder, annotations, images, lambda ds, f: modality_values(ds, ds.pixel_array), me
            )
            files = [*saved.presentation_states, *([saved.report] if saved.report else [])]
            if attach is not None and files:
                attach(
                    files,
                    QCoreApplication.translate("Coview", "Co-viewing annotations and measurements"),
                )
            return saved

        run_in_worker(
            work,
            on_done=self.saved.emit,
            on_error=lambda exc: self.save_failed.emit(viewer_problem_text(exc)),
        )


def _read(instance: Any) -> pydicom.Dataset:
    """An image drawn on, from its file or (a case's images) the encrypted blob store."""
    if instance.opener is not None:
        return pydicom.dcmread(io.BytesIO(instance.opener()))
    return pydicom.dcmread(instance.path)


def start_coview(
    viewer: ViewerWidget,
    service: Any,
    me: str,
    patient: PatientIdentity,
    consultation_id: str,
    attach: Any = None,
    source: ConsultationSeries | None = None,
) -> CoviewLink:
    """Join ``viewer`` to the call of ``service`` (``CallService``) for co-viewing.

    Call once per call; then ``link.share(series)`` to present a series of the consultation.
    ``attach(paths, title)`` stores saved files as an attachment of the consultation
    (``app.sync.attachments.attach_files``); it runs on a worker thread. ``source`` (the
    consultation's series, ``case_model.consultation_series``) limits sharing to them and lets
    the receiving side fetch a shared series it lacks ahead of other downloads.
    """

    def have(uid: str) -> bool:
        return any(
            uid in study.series
            for p in list(viewer.library.patients.values())
            for study in list(p.studies.values())
        )

    session = CoviewSession(me, patient, consultation_id, lambda m: False, has_series=have)
    link = CoviewLink(viewer, session, attach, source)
    service.use_coview(session)
    service.call_event.connect(lambda event: _maybe_save_on_hangup(link, event))
    return link


def _maybe_save_on_hangup(link: CoviewLink, event: Any) -> None:
    from app.media.call import CallPhase

    ended = getattr(event, "kind", "") == "phase" and event.phase is CallPhase.ended
    if not ended or link.closed:
        return
    # One copy in the consultation: the side that started sharing files it (either side can
    # still save on demand with the bar's button).
    if link.started_here and link.session.annotations:
        link.save()
    link.close()
