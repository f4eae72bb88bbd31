"""Co-viewing as people use it: two main windows signed in to a real hub on loopback, a call
between them about a consultation, sharing started from the case screen's "Share images"
button. The specialist does not hold the CT yet: he sees the preview and the fetch progress,
then the series; the clinic doctor's slice change and length reach him; at hang-up the
session is saved into the consultation."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF

from tests.support.ct_phantom import PhantomSpec, write_phantom
from tests.viewer.test_viewer_ui import drag
from tests.workflow.conftest import sign_in
from tests.workflow.shots import shot

DEADLINE_MS = 60_000  # a deadline only: typically each step takes well under a second


def _window(qtbot, ctx):  # noqa: ANN001, ANN202
    from app.ui.main_window import MainWindow

    win = MainWindow(ctx)
    qtbot.addWidget(win)
    win.resize(1280, 860)
    win.show()
    return win


def test_share_images_from_the_case_screen_reaches_the_other_call_window(
    qtbot, live_hub, tmp_path: Path, request
) -> None:  # noqa: ANN001
    from app.media.call import CallPhase
    from app.sync.attachments import attach_files
    from app.ui.call.incoming import IncomingCallDialog
    from app.ui.i18n import install_translators
    from app.ui.workflow.case_model import consultation_series
    from hub.demo import DEMO_PASSWORD, _id

    install_translators("zh_CN")  # as the clinic and the county hospital use it
    request.addfinalizer(lambda: install_translators("en"))
    cid, pid = str(_id("c-li")), str(_id("p-li"))
    doctor_ctx, _ = sign_in(tmp_path / "doctor", live_hub.url, "doctor", password=DEMO_PASSWORD)
    # The specialist's sync runs later: the CT must be fetched when it is shared.
    spec_ctx, _ = sign_in(
        tmp_path / "spec", live_hub.url, "specialist2", start=False, password=DEMO_PASSWORD
    )
    doctor, spec = doctor_ctx.services["sync"], spec_ctx.services["sync"]
    request.addfinalizer(doctor.engine.stop)
    request.addfinalizer(spec.engine.stop)

    qtbot.waitUntil(lambda: doctor.store.get(cid) is not None, timeout=DEADLINE_MS)
    # The clinic attaches a small CT of 李建国 (the consultation's patient) to the case.
    ct = write_phantom(
        tmp_path / "ct",
        PhantomSpec(size=96, slices=4, patient_name="李建国", patient_id="QS20260027"),
    )
    attached = [attach_files(doctor.store, doctor.blobs, ct, pid, cid, "胸部CT")]
    prior = write_phantom(
        tmp_path / "prior",
        PhantomSpec(size=64, slices=2, patient_name="李建国", patient_id="QS20260027"),
    )
    attached.append(attach_files(doctor.store, doctor.blobs, prior, pid, cid, "既往CT"))
    both = {a.fields["series"][0]["series_uid"] for a in attached}
    qtbot.waitUntil(lambda: doctor.store.outbox_size() == 0, timeout=DEADLINE_MS)
    spec.engine.pull()  # the records, not the images
    assert consultation_series(spec, cid).allowed == both
    assert not any(consultation_series(spec, cid).held(uid)[0] for uid in both)

    doctor_win, spec_win = _window(qtbot, doctor_ctx), _window(qtbot, spec_ctx)
    doctor_calls, spec_calls = doctor_win.page("call"), spec_win.page("call")
    for page in (doctor_calls, spec_calls):
        request.addfinalizer(page.service.stop)
        qtbot.waitUntil(lambda p=page: p.service.online, timeout=DEADLINE_MS)

    # Before the call the button is there, disabled, saying why.
    case = doctor_win.open_case(cid)
    qtbot.waitUntil(lambda: case.case is not None, timeout=DEADLINE_MS)
    assert not case.share_button.isEnabled()
    assert case.share_hint.text() == "在关于本会诊的视频通话中才能共享影像。"

    case.start_call()
    qtbot.waitUntil(
        lambda: isinstance(spec_calls._ringing, IncomingCallDialog), timeout=DEADLINE_MS
    )
    spec_calls._ringing.accept()
    for page in (doctor_calls, spec_calls):
        qtbot.waitUntil(lambda p=page: p.service.phase is CallPhase.active, timeout=DEADLINE_MS)
    # both sides join their viewer to the call once its subject is known
    for page in (doctor_calls, spec_calls):
        qtbot.waitUntil(lambda p=page: p.coview_link is not None, timeout=DEADLINE_MS)

    case = doctor_win.open_case(cid)
    qtbot.waitUntil(lambda: case.share_button.isEnabled(), timeout=DEADLINE_MS)
    assert not case.share_hint.isVisible() and case.share_button.text() == "共享影像"
    shot(doctor_win, "coview-case-share-zh.png", tmp_path)
    case.share_button.click()

    doctor_link, spec_link = doctor_calls.coview_link, spec_calls.coview_link
    doctor_viewer = doctor_win.page("viewer").viewer
    spec_viewer = spec_win.page("viewer").viewer
    qtbot.waitUntil(lambda: doctor_link.session.presenting, timeout=DEADLINE_MS)
    series_uid = doctor_link.session.series.series_uid  # one of the consultation's two
    (other_uid,) = both - {series_uid}
    # The specialist lacks the CT: a preview shows at once, with the fetch's progress.
    qtbot.waitUntil(lambda: spec_link.session.preview is not None, timeout=DEADLINE_MS)
    assert spec_link.session.lacking_series and spec_link.showing_preview
    assert spec_win.page("viewer").isVisible()  # the viewer came forward by itself
    assert "李建国" in spec_link.bar.patient.text() and "QS20260027" in spec_link.bar.patient.text()
    qtbot.waitUntil(lambda: spec_link.fetched is not None, timeout=DEADLINE_MS)
    assert "0/" in spec_link.bar.status.text()  # 正在优先下载该序列：已有 0/4 幅
    shot(spec_win, "coview-fetching-zh.png", tmp_path)
    shas = consultation_series(spec, cid).series[series_uid]
    assert set(spec.engine.wanted()[: len(shas)]) == set(shas)  # queued ahead of the rest
    spec.engine.start()
    qtbot.waitUntil(
        lambda: (
            spec_viewer.active.series is not None and spec_viewer.active.series.uid == series_uid
        ),
        timeout=DEADLINE_MS,
    )
    qtbot.waitUntil(lambda: not doctor_link.session.peer_lacks_series, timeout=DEADLINE_MS)
    assert not spec_link.showing_preview

    # The presenter changes slice: the specialist's viewport follows.
    vp_doctor, vp_spec = doctor_viewer.active, spec_viewer.active
    qtbot.waitUntil(lambda: vp_doctor._qimage is not None, timeout=DEADLINE_MS)
    vp_doctor.set_frame(1)
    qtbot.waitUntil(lambda: vp_spec.state.frame_index == 1, timeout=DEADLINE_MS)
    assert vp_spec.current.instance.sop_instance_uid == vp_doctor.current.instance.sop_instance_uid

    # A length drawn by the doctor reaches the specialist with the same number.
    doctor_viewer.set_tool("length")
    drag(qtbot, vp_doctor, QPointF(150, 150), QPointF(260, 200))
    qtbot.waitUntil(lambda: len(spec_viewer.annotations.items) == 1, timeout=DEADLINE_MS)
    mark = spec_viewer.annotations.items[0]
    assert mark.kind == "length" and mark.author == doctor_link.session.me
    assert vp_spec.label_for(mark) == vp_doctor.label_for(doctor_viewer.annotations.items[0])
    qtbot.waitUntil(lambda: vp_spec._qimage is not None, timeout=DEADLINE_MS)  # decoded
    shot(spec_win, "coview-follower-zh.png", tmp_path)

    # The doctor opens the other series of the consultation: it is shared in its turn.
    other = next(s for _p, _s, s in doctor_viewer.library.all_series() if s.uid == other_uid)
    doctor_viewer.open_series(other)
    qtbot.waitUntil(
        lambda: (
            spec_viewer.active.series is not None and spec_viewer.active.series.uid == other_uid
        ),
        timeout=DEADLINE_MS,
    )
    assert len(spec_link.session.annotations) == 1  # the length on the first series stays

    # Hang-up: the side that shared files the session into the consultation (GSPS + SR).
    doctor_calls.service.hangup()
    qtbot.waitUntil(lambda: spec_calls.service.phase is CallPhase.ended, timeout=DEADLINE_MS)

    def saved() -> list:
        from app.protocol.sync import DocType

        return [
            a
            for a in doctor.store.list(DocType.attachment, consultation_id=cid)
            if len(a.fields.get("blobs") or []) == 2 and a.id not in {x.id for x in attached}
        ]

    qtbot.waitUntil(lambda: len(saved()) == 1, timeout=DEADLINE_MS)
    names = sorted(b["name"] for b in saved()[0].fields["blobs"])
    assert names == ["coview-measurements.dcm", "coview-ps-1.dcm"], names
    assert doctor_link.closed and spec_link.closed  # both viewers are plain viewers again
