"""The viewer driven as a person would: open a folder, scroll, drag W/L, measure on the
phantom, check an ROI mean, save GSPS, reopen it and check the view is restored."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from app.ui.viewer.viewer_widget import ViewerWidget
from tests.support.ct_phantom import SOFT, PhantomSpec

from .conftest import open_folder, sample

SPEC = PhantomSpec(size=256, slices=12)


def drag(qtbot, widget, start: QPointF, end: QPointF, button=Qt.MouseButton.LeftButton):
    a, b = start.toPoint(), end.toPoint()
    qtbot.mousePress(widget, button, pos=a)
    for t in (0.25, 0.5, 0.75, 1.0):
        qtbot.mouseMove(
            widget, QPoint(round(a.x() + (b.x() - a.x()) * t), round(a.y() + (b.y() - a.y()) * t))
        )
    qtbot.mouseRelease(widget, button, pos=b)


def wheel(widget, clicks: int):
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120 * clicks),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, ev)


def written(qtbot, viewer, write, path, *args):
    """Run a save/export (done on a worker) and wait until the file is written."""
    with qtbot.waitSignal(viewer.file_written, timeout=60000) as blocker:
        write(path, *args)
    assert blocker.args[0] == path
    return path


def painted(widget) -> np.ndarray:
    """What Qt actually painted in the widget, as an RGB array."""
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    return (
        np.frombuffer(img.constBits(), np.uint8, img.bytesPerLine() * h)
        .reshape(h, img.bytesPerLine())[:, : 3 * w]
        .reshape(h, w, 3)
        .copy()
    )


def image_area(rgb: np.ndarray, vp) -> np.ndarray:
    """The middle of the viewport, where no corner text, marker or scale bar is drawn."""
    h, w = vp.height(), vp.width()
    return rgb[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4, :3]


def test_open_scroll_window_measure_save_and_restore(qtbot, viewer, phantom_dir, tmp_path):
    vp = open_folder(qtbot, viewer, phantom_dir)
    assert len(vp.frames) == SPEC.slices
    qtbot.waitUntil(lambda: viewer.browser.has_thumbnail(vp.series.uid), timeout=60000)
    info = vp.corner_info()
    assert info.top_left[0] == "张三" and "PH-0001" in info.top_left[1]
    assert not info.lossy and info.calibrated
    assert info.markers == {"right": "L", "left": "R", "bottom": "P", "top": "A"}

    # stack scroll: wheel down two clicks, then keys
    wheel(vp, -2)
    assert vp.state.frame_index == 2
    qtbot.keyClick(vp, Qt.Key.Key_Down)
    assert vp.state.frame_index == 3 and viewer.slider.value() == 3
    qtbot.waitUntil(lambda: vp._stored is not None, timeout=60000)

    # W/L by right-drag: to the right widens, downward raises the level
    before = vp.shown_window()
    drag(qtbot, vp, QPointF(300, 300), QPointF(400, 340), Qt.MouseButton.RightButton)
    after = vp.shown_window()
    assert after.width > before.width and after.center > before.center
    viewer.apply_preset("CT abdomen")
    assert (vp.state.window.center, vp.state.window.width) == (40, 400)

    # length between the two marker pins, in millimetres
    viewer.set_tool("length")
    (x1, y1), (x2, y2) = SPEC.marker_pixels
    drag(qtbot, vp, vp.to_view((x1 + 0.5, y1 + 0.5)), vp.to_view((x2 + 0.5, y2 + 0.5)))
    line = viewer.annotations.items[-1]
    assert line.kind == "length" and line.author == "Dr Wang 王医生"
    mm = float(vp.label_for(line).split()[0])
    assert abs(mm - SPEC.marker_mm) / SPEC.marker_mm < 0.005

    # ellipse ROI inside the +60 HU disk: mean in HU
    viewer.set_tool("ellipse")
    cx, cy, r = SPEC.soft_disk
    drag(
        qtbot,
        vp,
        vp.to_view((cx - r * 0.6, cy - r * 0.6)),
        vp.to_view((cx + r * 0.6, cy + r * 0.6)),
    )
    roi = viewer.annotations.items[-1]
    assert roi.kind == "ellipse"
    assert f"mean {SOFT:.1f} HU" in vp.label_for(roi)

    # undo/redo of the ROI
    viewer.annotations.undo()
    assert roi.id not in {a.id for a in viewer.annotations.items}
    viewer.annotations.redo()
    assert roi.id in {a.id for a in viewer.annotations.items}

    # zoom, rotate, flip; then save GSPS
    vp.zoom_by(1.5)
    vp.rotate(90)
    vp.flip()
    saved_state = vp.state.to_dict()
    pr = written(qtbot, viewer, viewer.save_gsps, tmp_path / "pr.dcm")
    viewer.grab().save(str(tmp_path / "viewer.png"))

    # the headless export renders exactly the pixels the viewport shows
    import numpy as np
    from PIL import Image

    from app.dicom_viewer.export_cli import main as export_main

    shown = vp.current.instance.path
    assert (
        export_main([str(shown), str(tmp_path / "x.png"), "--gsps", str(pr), "--no-overlays"]) == 0
    )
    exported = np.asarray(Image.open(tmp_path / "x.png"))
    drawn, viewer.annotations.items = viewer.annotations.items, []  # the image alone
    try:
        assert np.array_equal(image_area(exported, vp), image_area(painted(vp), vp))
    finally:
        viewer.annotations.items = drawn

    # a fresh viewer (another session) opens the folder and the GSPS: same view
    other = ViewerWidget(author="Dr Chen")
    qtbot.addWidget(other)
    other.resize(1300, 900)
    other.show()
    vp2 = open_folder(qtbot, other, phantom_dir)
    other.open_gsps(pr)
    qtbot.waitUntil(lambda: vp2._stored is not None and vp2.state.frame_index == 3, timeout=60000)
    assert vp2.state.to_dict() == saved_state
    restored = other.annotations.items
    assert [a.kind for a in restored] == ["length", "ellipse"]
    assert restored[0].author == "Dr Wang 王医生"
    assert abs(float(vp2.label_for(restored[0]).split()[0]) - mm) < 1e-6
    other.shutdown()


def test_broken_files_are_listed_not_fatal(qtbot, viewer, tmp_path):
    (tmp_path / "junk.dcm").write_bytes(b"garbage")
    (tmp_path / "ct.dcm").write_bytes(sample("CT_small.dcm").read_bytes())
    vp = open_folder(qtbot, viewer, tmp_path)
    assert "junk.dcm" in viewer.skipped_label.text()
    assert "not a DICOM file" in viewer.skipped_label.text()
    assert vp.series is not None


def test_lossy_mark_uncalibrated_label_and_layouts(qtbot, viewer, tmp_path):
    import pydicom

    ds = pydicom.dcmread(sample("CT_small.dcm"))
    ds.LossyImageCompression = "01"
    del ds.PixelSpacing
    ds.save_as(tmp_path / "lossy.dcm")
    vp = open_folder(qtbot, viewer, tmp_path)
    info = vp.corner_info()
    assert info.lossy and not info.calibrated
    viewer.set_tool("length")
    drag(qtbot, vp, vp.to_view((10, 10)), vp.to_view((40, 50)))
    assert "(uncalibrated)" in vp.label_for(viewer.annotations.items[-1])
    viewer.set_layout(2, 2)
    assert len(viewer.visible_viewports) == 4
    viewer.set_layout(1, 2)
    assert len(viewer.visible_viewports) == 2


def test_ecg_series_shows_the_grid(qtbot, viewer, tmp_path):
    (tmp_path / "ecg.dcm").write_bytes(sample("waveform_ecg.dcm").read_bytes())
    with qtbot.waitSignal(viewer.import_finished, timeout=60000):
        viewer.import_paths([tmp_path])
    assert viewer.stack.currentWidget() is viewer.ecg_view
    assert "25 mm/s" in viewer.ecg_view.caption.text()


def test_sync_scroll_and_cine(qtbot, viewer, phantom_dir, tmp_path):
    import pydicom
    from pydicom.uid import generate_uid

    # a second series in the same frame of reference, slices offset by 1 mm
    series_uid = generate_uid()
    for path in sorted(phantom_dir.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID, ds.SeriesNumber = series_uid, 2
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 1.0
        ds.save_as(tmp_path / path.name)
    with qtbot.waitSignal(viewer.import_finished, timeout=60000):
        viewer.import_paths([phantom_dir, tmp_path])
    first, second = [s for _p, _st, s in viewer.library.all_series()]
    viewer.set_layout(1, 2)
    left, right = viewer.visible_viewports
    viewer.open_series(first, left)
    viewer.open_series(second, right)
    viewer.set_active(left)
    left.set_frame(6)  # z = 12 mm; nearest in the other series: z = 11 mm (index 5)
    assert right.state.frame_index == 5
    viewer.fps.setValue(50)
    viewer.cine_action.setChecked(True)
    start = left.state.frame_index
    qtbot.waitUntil(lambda: left.state.frame_index != start, timeout=60000)
    viewer.cine_action.setChecked(False)


def test_drag_and_drop_a_folder(qtbot, viewer, phantom_dir):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(phantom_dir))])
    pos = QPointF(50, 50)
    enter = QDragEnterEvent(
        pos.toPoint(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewer, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(viewer.import_finished, timeout=60000):
        QApplication.sendEvent(viewer, drop)
    assert len(viewer.active.frames) == SPEC.slices


def test_export_from_the_viewer_with_and_without_overlays(qtbot, viewer, phantom_dir, tmp_path):
    import numpy as np
    from PIL import Image

    vp = open_folder(qtbot, viewer, phantom_dir)
    qtbot.waitUntil(lambda: vp._stored is not None, timeout=60000)
    bare = np.asarray(
        Image.open(written(qtbot, viewer, viewer.export_image, tmp_path / "bare.png", False))
    )
    full = np.asarray(
        Image.open(written(qtbot, viewer, viewer.export_image, tmp_path / "full.png", True))
    )
    assert bare.shape[:2] == full.shape[:2] == (vp.height(), vp.width())
    assert (bare[..., :3] != full[..., :3]).any()  # the corner text is only in the second
    # the bare export has exactly the pixels Qt painted (away from the corner texts)
    assert np.array_equal(image_area(bare, vp), image_area(painted(vp), vp))
    assert np.array_equal(full[..., :3], painted(vp))


def test_manual_calibration_then_select_move_delete(qtbot, viewer, tmp_path, monkeypatch):
    import pydicom
    from PySide6.QtWidgets import QInputDialog

    ds = pydicom.dcmread(sample("CT_small.dcm"))
    del ds.PixelSpacing  # an uncalibrated image (e.g. a scanned film)
    ds.save_as(tmp_path / "film.dcm")
    vp = open_folder(qtbot, viewer, tmp_path)
    assert not vp.calibration().calibrated
    # calibrate: a 100-pixel line the user says is 50 mm
    monkeypatch.setattr(QInputDialog, "getDouble", lambda *a, **k: (50.0, True))
    viewer.set_tool("calibration")
    drag(qtbot, vp, vp.to_view((10.5, 20.5)), vp.to_view((110.5, 20.5)))
    cal = vp.calibration()
    assert cal.calibrated and cal.source == "manual"
    assert abs(cal.col_mm - 0.5) < 0.01
    viewer.set_tool("length")
    drag(qtbot, vp, vp.to_view((20.5, 60.5)), vp.to_view((80.5, 60.5)))
    line = viewer.annotations.items[-1]
    assert abs(float(vp.label_for(line).split()[0]) - 30.0) < 0.3
    # select the line by clicking on it, drag it 10 px down, then delete it
    viewer.set_tool("select")
    drag(qtbot, vp, vp.to_view((50.5, 60.5)), vp.to_view((50.5, 70.5)))
    moved = viewer.annotations.get(line.id)
    assert vp.selected_id == line.id
    assert abs(moved.points[0][1] - 70.5) < 0.6 and abs(moved.points[0][0] - 20.5) < 0.6
    qtbot.keyClick(vp, Qt.Key.Key_Delete)
    assert viewer.annotations.get(line.id) is None
    viewer.annotations.undo()
    assert viewer.annotations.get(line.id) is not None


def test_gsps_shutter_shown_kept_on_save_and_exported_identically(
    qtbot, viewer, phantom_dir, tmp_path
):
    import numpy as np
    from PIL import Image

    from app.dicom_viewer.export_cli import main as export_main
    from app.dicom_viewer.gsps import read_gsps, write_gsps
    from app.dicom_viewer.shutters import Shutter
    from app.dicom_viewer.view_state import ViewState

    vp = open_folder(qtbot, viewer, phantom_dir)
    qtbot.waitUntil(lambda: vp._stored is not None, timeout=60000)
    before = vp._rgb.copy()
    header = vp.current.instance.header
    # A presentation state from another workstation: circular shutter, white outside.
    incoming = tmp_path / "incoming.dcm"
    shutter = Shutter(circle=(128, 128, 60), value=0xFFFF)
    write_gsps(incoming, [header], ViewState(rotation=90), [], "Dr Chen", shutter=shutter)
    viewer.open_gsps(incoming)
    qtbot.waitUntil(lambda: vp._stored is not None and vp.state.rotation == 90, timeout=60000)
    assert vp.overrides.shutter == shutter
    rgb = vp._rgb
    h, w = rgb.shape[:2]
    # Corners of the (fitted, rotated) image are shuttered white; the centre is the image.
    centre = rgb[h // 2 - 5 : h // 2 + 5, w // 2 - 5 : w // 2 + 5]
    assert (centre == before[h // 2 - 5 : h // 2 + 5, w // 2 - 5 : w // 2 + 5]).all()
    x0 = (w - h) // 2  # the square image fills the viewport's height
    assert (rgb[3, x0 + 3] == 255).all() and (rgb[h - 4, x0 + h - 4] == 255).all()

    # Saving keeps the shutter, and the headless export reproduces the viewport exactly.
    saved = written(qtbot, viewer, viewer.save_gsps, tmp_path / "saved.dcm")
    assert read_gsps(saved).shutter == shutter
    shown = vp.current.instance.path
    assert (
        export_main([str(shown), str(tmp_path / "x.png"), "--gsps", str(saved), "--no-overlays"])
        == 0
    )
    exported = np.asarray(Image.open(tmp_path / "x.png"))
    drawn, viewer.annotations.items = viewer.annotations.items, []  # the image alone
    try:
        assert np.array_equal(image_area(exported, vp), image_area(painted(vp), vp))
    finally:
        viewer.annotations.items = drawn


def test_cancelling_a_large_import_from_the_progress_dialog(qtbot, viewer, tmp_path_factory):
    from PySide6.QtWidgets import QPushButton

    from tests.support.ct_phantom import write_phantom

    folder = tmp_path_factory.mktemp("big_import")
    total = len(write_phantom(folder, PhantomSpec(size=16, slices=1500)))
    viewer.import_paths([folder])
    # The dialog appears once the import has run for a moment; the person presses Cancel.
    qtbot.waitUntil(
        lambda: (
            viewer._progress is not None
            and viewer._progress.isVisible()
            and viewer._progress.value() > 0
        ),
        timeout=60000,
    )
    assert viewer._progress.maximum() == total
    button = viewer._progress.findChild(QPushButton)
    assert button is not None
    with qtbot.waitSignal(viewer.import_finished, timeout=60000) as finished:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    report = finished.args[0]
    assert report.cancelled and 0 < report.added < total
    assert viewer._progress is None  # the dialog is gone
    # What was indexed before the cancel stays usable: listed, counted and on screen.
    indexed = sum(len(s.instances) for _p, _st, s in viewer.library.all_series())
    assert indexed == report.added
    assert viewer.tr("Import cancelled.") in viewer.skipped_label.text()
    assert (
        viewer.tr("%1 file(s) imported").replace("%1", str(report.added))
        in viewer.skipped_label.text()
    )
    vp = viewer.active
    qtbot.waitUntil(lambda: vp._qimage is not None, timeout=60000)
    assert len(vp.frames) == report.added


def test_compressed_series_decoded_by_worker_processes_that_stop_with_the_viewer(
    qtbot, tmp_path_factory
):
    import threading

    import numpy as np
    import psutil
    from pydicom.uid import JPEG2000Lossless

    from app.dicom_viewer.decoders import decode_frame
    from tests.support.ct_phantom import write_phantom

    folder = tmp_path_factory.mktemp("j2k_ui")
    write_phantom(folder, PhantomSpec(size=128, slices=16), JPEG2000Lossless)
    before = {p.pid for p in psutil.Process().children()}
    viewer = ViewerWidget(author="Dr Wang")
    qtbot.addWidget(viewer)
    viewer.resize(900, 700)
    viewer.show()
    vp = open_folder(qtbot, viewer, folder)
    pool = viewer.source.processes
    ready = threading.Event()
    pool.on_ready(ready.set)  # opening a compressed series started the workers
    assert ready.wait(60)
    workers = [
        p
        for p in psutil.Process().children()
        if p.pid not in before and "resource_tracker" not in " ".join(p.cmdline())
    ]  # multiprocessing's own
    assert len(workers) == pool.workers
    # Every slice is viewable and identical to a plain decode; scrolling shows them.
    qtbot.waitUntil(
        lambda: all(viewer.source.cached(r) is not None for r in vp.frames), timeout=60000
    )
    for ref in vp.frames:
        assert np.array_equal(viewer.source.cached(ref), decode_frame(ref.instance.path, 0))
    vp.set_frame(9)
    qtbot.waitUntil(lambda: vp.state.frame_index == 9 and vp._stored is not None, timeout=60000)
    # Closing the viewer ends the worker processes.
    viewer.shutdown()
    gone, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive


def test_drawing_a_shutter_saving_it_and_removing_it(qtbot, viewer, phantom_dir, tmp_path):
    import numpy as np

    from app.dicom_viewer.gsps import read_gsps

    vp = open_folder(qtbot, viewer, phantom_dir)
    qtbot.waitUntil(lambda: vp._stored is not None, timeout=60000)
    before = vp._rgb.copy()
    viewer.tool_actions["shutter"].trigger()
    a, b = vp.to_view((64.0, 80.0)), vp.to_view((192.0, 176.0))
    drag(qtbot, vp, a, b)
    shutter = vp.overrides.shutter
    assert shutter is not None and shutter.shapes == ["RECTANGULAR"]
    left, right, upper, lower = shutter.rectangle
    assert abs(left - 65) <= 1 and abs(right - 192) <= 1  # 1-based columns of the drag
    assert abs(upper - 81) <= 1 and abs(lower - 176) <= 1
    assert not viewer.annotations.items  # a shutter is not an annotation
    # Outside the opening the view is black; inside it is the image as before.
    inside, outside = vp.to_view((128.0, 128.0)), vp.to_view((40.0, 128.0))  # both in the body
    at_in, at_out = (int(inside.y()), int(inside.x())), (int(outside.y()), int(outside.x()))
    assert (vp._rgb[at_in] == before[at_in]).all()
    assert before[at_out].any() and not vp._rgb[at_out].any()
    # Saved with the GSPS, then removed from the view.
    assert (
        read_gsps(written(qtbot, viewer, viewer.save_gsps, tmp_path / "pr.dcm")).shutter == shutter
    )
    clear = next(a for a in viewer.toolbar2.actions() if a.text() == viewer.tr("Remove shutter"))
    clear.trigger()
    assert vp.overrides.shutter is None
    assert np.array_equal(vp._rgb, before)


def test_a_file_that_kills_its_decoder_is_named_and_the_rest_opens(
    qtbot, tmp_path_factory, monkeypatch
):
    """No native decoder runs in the viewer's process: a compressed file whose decoder dies
    (as GDCM did, aborting the viewer with the doctor's unsaved work) is reported by name,
    and every other image of the study is shown."""
    from pydicom.uid import JPEG2000Lossless

    from app.dicom_viewer import decoders
    from app.dicom_viewer.decode_pool import ProcessDecodePool
    from tests.support.ct_phantom import write_phantom

    from .pool_helpers import decode_or_die

    folder = tmp_path_factory.mktemp("j2k_crash")
    paths = write_phantom(folder, PhantomSpec(size=96, slices=6), JPEG2000Lossless)
    crash = paths[2].rename(folder / "CT0002_crash.dcm")

    def native_decoder_here(*_a, **_k):
        raise AssertionError("a native decoder ran in the GUI process")

    monkeypatch.setattr(decoders, "_pixel_array", native_decoder_here)
    viewer = ViewerWidget(author="Dr Wang")
    qtbot.addWidget(viewer)
    viewer.source.processes.shutdown()
    viewer.source.processes = ProcessDecodePool(worker_fn=decode_or_die)
    viewer.resize(700, 600)
    viewer.show()
    try:
        vp = open_folder(qtbot, viewer, folder)
        others = [r for r in vp.frames if r.instance.path != crash]
        qtbot.waitUntil(
            lambda: all(viewer.source.cached(r) is not None for r in others), timeout=60000
        )
        qtbot.waitUntil(lambda: crash.name in viewer.status.text(), timeout=60000)
        assert "crashed" in viewer.status.text()
        bad = next(i for i, r in enumerate(vp.frames) if r.instance.path == crash)
        vp.set_frame(bad + 1)  # scrolling past it still works
        qtbot.waitUntil(lambda: vp._stored is not None, timeout=60000)
    finally:
        viewer.shutdown()


def test_saving_a_large_gsps_never_stalls_the_gui(
    qtbot, viewer, phantom_dir, tmp_path, monkeypatch
):
    """The GSPS is written on a worker: the GUI thread's longest gap while saving stays
    well below the time the writing itself takes."""
    import threading
    import time

    from PySide6.QtCore import QTimer

    from app.dicom_viewer.annotations import Annotation
    from app.ui.viewer import viewer_widget

    vp = open_folder(qtbot, viewer, phantom_dir)
    for ref in vp.frames:
        sop = ref.instance.sop_instance_uid
        for i in range(150):
            viewer.annotations.items.append(
                Annotation("length", [(10 + i % 50, 20), (60, 30 + i % 40)], "Dr Wang", sop)
            )
    writing: dict = {}
    real = viewer_widget.write_gsps

    def timed(*args, **kwargs):
        writing["thread"] = threading.current_thread()
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            writing["seconds"] = time.perf_counter() - start

    monkeypatch.setattr(viewer_widget, "write_gsps", timed)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(5)
    written(qtbot, viewer, viewer.save_gsps, tmp_path / "big.dcm")
    timer.stop()
    assert writing["thread"] is not threading.main_thread()
    gap = max(b - a for a, b in zip(ticks, ticks[1:], strict=False))
    print(
        f"GSPS of {len(viewer.annotations.items)} annotations written in "
        f"{writing['seconds']:.2f} s; longest GUI gap {gap * 1000:.0f} ms"
    )
    assert gap < writing["seconds"]
