"""Two viewers joined by co-viewing (the wire format in between, the widgets driven as a
person would): scrolling, W/L and a length reach the other viewer; the other's ROI comes back
in its own colour; the laser dot; the patient banner; another patient's series is refused."""

from __future__ import annotations

import pydicom
import pytest
from PySide6.QtCore import QPointF

from app.dicom_viewer.annotations import Annotation
from app.dicom_viewer.coview import CoviewSession, PatientIdentity
from app.protocol.datachannel import SharedSeries, encode_message, parse_message
from app.ui.viewer.coview_link import CoviewLink
from app.ui.viewer.viewer_widget import ViewerWidget

from .conftest import open_folder
from .test_viewer_ui import drag, wheel


@pytest.fixture
def two_viewers(qtbot, phantom_dir):
    viewers = []
    for name in ("Dr Li", "Dr Wang"):
        w = ViewerWidget(author=name)
        qtbot.addWidget(w)
        w.resize(900, 700)
        w.show()
        open_folder(qtbot, w, phantom_dir)
        viewers.append(w)
    yield viewers
    for w in viewers:
        w.shutdown()


def _join(viewers, patient: PatientIdentity):  # noqa: ANN202
    links: list[CoviewLink] = []

    def sender(to: int):  # noqa: ANN202
        def send(message) -> bool:  # noqa: ANN001
            text = encode_message(message)  # the real wire format, in order
            links[to].session.receive(parse_message(text))
            return True

        return send

    for i, (w, me) in enumerate(zip(viewers, ("Dr Li", "Dr Wang"), strict=True)):
        session = CoviewSession(me, patient, "c1", sender(1 - i))
        links.append(CoviewLink(w, session))
    return links


def _series(viewer: ViewerWidget) -> SharedSeries:
    vp = viewer.active
    ds = vp.series.instances[0].header
    return SharedSeries(
        consultation_id="c1",
        study_uid=str(ds.StudyInstanceUID),
        series_uid=vp.series.uid,
        patient_id=str(ds.PatientID),
        patient_name=str(ds.PatientName),
    )


def test_presenter_scrolls_and_measures_and_the_other_viewer_follows(qtbot, two_viewers, tmp_path):
    li, wang = two_viewers
    ds = li.active.series.instances[0].header
    a, b = _join(two_viewers, PatientIdentity(str(ds.PatientID), str(ds.PatientName)))
    assert a.share(_series(li))
    assert b.session.active and b.bar.isVisible()
    assert str(ds.PatientID) in b.bar.patient.text() and str(ds.PatientID) in a.bar.patient.text()

    vp_a, vp_b = li.active, wang.active
    wheel(vp_a, -3)
    vp_a.adjust_window(40, -25)
    qtbot.waitUntil(lambda: vp_b.state.frame_index == vp_a.state.frame_index != 0, timeout=5000)
    qtbot.waitUntil(lambda: vp_b.state.window == vp_a.state.window, timeout=5000)
    assert vp_b.current.instance.sop_instance_uid == vp_a.current.instance.sop_instance_uid
    assert wang.slider.value() == li.slider.value()

    li.set_tool("length")
    drag(qtbot, vp_a, QPointF(200, 200), QPointF(300, 260))
    qtbot.waitUntil(lambda: len(wang.annotations.items) == 1, timeout=5000)
    length_b = wang.annotations.items[0]
    assert length_b.author == "Dr Li" and length_b.kind == "length"
    # both sides show the same number, computed from each image's own calibration
    assert vp_b.label_for(length_b) == vp_a.label_for(li.annotations.items[0])

    # the other side draws an ROI; it comes back in Dr Wang's colour
    roi = Annotation(
        "ellipse",
        [(60, 60), (120, 100)],
        "Dr Wang",
        vp_b.current.instance.sop_instance_uid,
        vp_b.current.frame,
    )
    wang.annotations.add(roi)
    qtbot.waitUntil(lambda: li.annotations.get(roi.id) is not None, timeout=5000)
    assert vp_a.author_colours["Dr Wang"] != vp_a.author_colours["Dr Li"]
    # Dr Li cannot remove Dr Wang's ROI: it is put back
    li.annotations.remove(roi.id)
    assert li.annotations.get(roi.id) is not None and roi.id in b.session.annotations

    # the laser dot follows the presenter's mouse
    a.session.move_pointer(vp_a.current.instance.sop_instance_uid, 128, 128)
    a.session.flush()
    qtbot.waitUntil(lambda: vp_b.laser is not None, timeout=5000)
    wang.grab().save(str(tmp_path / "follower.png"))  # docs/img/coview.png comes from here

    # a small preview for a side that lacks the series
    mime, data = a._make_preview(a.session.view)
    assert mime == "image/jpeg" and 500 < len(data) < 30_000


def test_a_series_of_another_patient_is_refused_with_a_clear_message(qtbot, two_viewers):
    li, _ = two_viewers
    a, b = _join(two_viewers, PatientIdentity("OTHER-ID", "Zhao^Liu"))
    messages: list[str] = []
    a.refused.connect(messages.append)
    assert not a.share(_series(li))
    assert messages and "Zhao Liu" in messages[0] and not b.session.active


def test_saving_writes_the_presentation_state_and_report(qtbot, two_viewers, tmp_path):
    li, _ = two_viewers
    ds = li.active.series.instances[0].header
    a, _b = _join(two_viewers, PatientIdentity(str(ds.PatientID), str(ds.PatientName)))
    a.share(_series(li))
    ref = li.active.current
    li.annotations.add(
        Annotation(
            "rectangle", [(50, 50), (90, 80)], "Dr Li", ref.instance.sop_instance_uid, ref.frame
        )
    )
    with qtbot.waitSignal(a.saved, timeout=30000) as saved:
        a.save(tmp_path)
    result = saved.args[0]
    assert result.report is not None and len(result.presentation_states) == 1
    pr = pydicom.dcmread(result.presentation_states[0])
    assert pr.ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID == (
        ref.instance.sop_instance_uid
    )
