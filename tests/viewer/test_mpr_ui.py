"""The MPR view driven as a person would: open a CT, press MPR, click, scroll, drag W/L,
measure in the sagittal plane, export; and a series that is no volume says why."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.support.ct_phantom import PhantomSpec, write_volume

from .conftest import open_folder

N, K, DXY, DZ = 96, 40, 0.8, 2.0
SPHERE = np.array([30.0, 40.0, 36.0])


def _hu(i: int) -> np.ndarray:
    y, x = np.mgrid[0:N, 0:N] * DXY
    z = i * DZ
    hu = np.where((x - 38) ** 2 + (y - 38) ** 2 <= 34**2, 0, -1000).astype(np.int16)
    hu[(x - SPHERE[0]) ** 2 + (y - SPHERE[1]) ** 2 + (z - SPHERE[2]) ** 2 <= 100] = 500
    return hu


@pytest.fixture
def viewer(make_viewer):
    return make_viewer(author="Dr Wang", size=(1300, 700))


def open_mpr(qtbot, viewer, folder):
    open_folder(qtbot, viewer, folder)
    mpr = viewer.mpr_view
    viewer.open_mpr()
    qtbot.waitUntil(
        lambda: (
            mpr.state is not None
            and mpr.idle
            and all(p.rendered is not None for p in mpr.panes.values())
        ),
        timeout=60000,
    )
    return mpr


def settle(qtbot, mpr):
    qtbot.waitUntil(lambda: mpr.idle, timeout=60000)
    QApplication.processEvents()


def painted(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    rows = np.frombuffer(img.constBits(), np.uint8, img.bytesPerLine() * h)
    return rows.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


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


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mpr_ui")
    write_volume(folder, _hu, PhantomSpec(size=N, slices=K, spacing=DXY, thickness=DZ))
    return folder


def test_three_planes_linked_crosshair_scroll_window_measure_export(
    qtbot, viewer, ct_folder, tmp_path
):
    mpr = open_mpr(qtbot, viewer, ct_folder)
    axial, coronal, sagittal = (mpr.panes[p] for p in ("axial", "coronal", "sagittal"))
    # side by side
    assert axial.x() < coronal.x() < sagittal.x() and axial.y() == coronal.y() == sagittal.y()
    # patient identity on every plane
    for pane in mpr.panes.values():
        assert mpr.corner_text(pane.plane, pane.rendered).top_left[1].endswith("PH-0001")

    # Click the sphere's centre in the axial plane: the crosshair jumps there, and the
    # coronal and sagittal planes are cut through it (bright under their crosshair).
    state = mpr.state
    state.move_to(np.array([state.point[0], state.point[1], SPHERE[2]]))
    mpr.request_all()
    settle(qtbot, mpr)
    target = axial.to_view(SPHERE).toPoint()
    qtbot.mouseClick(axial, Qt.MouseButton.LeftButton, pos=target)
    settle(qtbot, mpr)
    assert np.allclose(mpr.state.point[:2], SPHERE[:2], atol=DXY)
    for pane in (coronal, sagittal):
        centre = pane.to_view(mpr.state.point).toPoint()
        pixel = painted(pane)[centre.y() + 3, centre.x() + 3]
        assert pixel.mean() > 200, (pane.plane, pixel)  # the sphere (500 HU, W 400 L 40)

    # Scroll the coronal plane two steps: only the point's coronal coordinate moves.
    before = mpr.state.point.copy()
    wheel(coronal, -2)
    settle(qtbot, mpr)
    moved = mpr.state.point - before
    assert abs(abs(moved[1]) - 2 * DXY) < 1e-6 and abs(moved[0]) < 1e-9 and abs(moved[2]) < 1e-9

    # Right-drag in the sagittal plane changes the window of all three planes.
    width = mpr.state.window.width
    qtbot.mousePress(sagittal, Qt.MouseButton.RightButton, pos=QPoint(100, 100))
    qtbot.mouseMove(sagittal, QPoint(160, 100))
    qtbot.mouseRelease(sagittal, Qt.MouseButton.RightButton, pos=QPoint(160, 100))
    settle(qtbot, mpr)
    assert mpr.state.window.width > width
    for pane in mpr.panes.values():
        assert (
            f"W: {mpr.state.window.width:g}"
            in mpr.corner_text(pane.plane, pane.rendered).bottom_left[0]
        )

    # A length in the sagittal plane, along the head–foot axis: calibrated in mm.
    mpr.tool_box.setCurrentIndex(2)  # Length
    a = SPHERE + np.array([0, 0, -8.0])
    b = SPHERE + np.array([0, 0, 8.0])
    mpr.state.move_to(SPHERE)
    mpr.request_all()
    settle(qtbot, mpr)
    pa, pb = sagittal.to_view(a).toPoint(), sagittal.to_view(b).toPoint()
    qtbot.mousePress(sagittal, Qt.MouseButton.LeftButton, pos=pa)
    qtbot.mouseMove(sagittal, pb)
    qtbot.mouseRelease(sagittal, Qt.MouseButton.LeftButton, pos=pb)
    (m,) = mpr.measurements
    px = sagittal.rendered.matrix[0, 0]  # viewport pixels per plane pixel
    assert sagittal.measure_mm(m) == pytest.approx(16.0, abs=2 * DXY / px + 1e-6)

    # Export: the active plane as Qt painted it.
    mpr._activate(sagittal)
    out = tmp_path / "sag.png"
    with qtbot.waitSignal(viewer.file_written, timeout=60000):
        viewer.export_image(out, overlays=True)
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), painted(sagittal))


def test_thick_slab_and_oblique_planes_from_the_toolbar(qtbot, viewer, ct_folder):
    mpr = open_mpr(qtbot, viewer, ct_folder)
    mpr.slab_box.setCurrentIndex(1)  # MIP
    mpr.slab_mm.setValue(20.0)
    settle(qtbot, mpr)
    assert mpr.state.slab_mm == 20.0 and mpr.state.slab_mode == "mip"
    assert "MIP 20 mm" in mpr.corner_text("axial", mpr.panes["axial"].rendered).top_right
    mpr.tool_box.setCurrentIndex(1)  # Rotate planes
    axial = mpr.panes["axial"]
    centre = axial.to_view(mpr.state.point)
    start = QPoint(int(centre.x()) + 60, int(centre.y()))
    end = QPoint(int(centre.x()) + 60, int(centre.y()) + 40)
    qtbot.mousePress(axial, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(axial, end)
    qtbot.mouseRelease(axial, Qt.MouseButton.LeftButton, pos=end)
    settle(qtbot, mpr)
    assert mpr.state.oblique
    assert "oblique" in mpr.corner_text("coronal", mpr.panes["coronal"].rendered).top_right[0]
    mpr.reset_planes()
    settle(qtbot, mpr)
    assert not mpr.state.oblique


def test_a_gantry_tilted_series_says_it_cannot_be_reformatted(qtbot, viewer, tmp_path):
    spec = PhantomSpec(size=32, slices=6, spacing=1.0, thickness=2.0)
    positions = [(0.0, 0.6 * i, 2.0 * i) for i in range(6)]
    write_volume(tmp_path, lambda i: np.zeros((32, 32), np.int16), spec, positions=positions)
    with qtbot.waitSignal(viewer.import_finished, timeout=60000):
        viewer.import_paths([tmp_path])
    qtbot.waitUntil(lambda: viewer.active._qimage is not None, timeout=60000)
    viewer.open_mpr()
    qtbot.waitUntil(lambda: "gantry tilt" in viewer.mpr_view.message.text(), timeout=60000)
    assert viewer.mpr_view.state is None
