"""Rendering a frame to numpy: image-resolution display pixels, then the viewport.

The Qt widget and the headless ``export`` command both call these functions, so an exported
PNG has exactly the pixels the viewer shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydicom.dataset import Dataset

from app.dicom_viewer import pipeline as P
from app.dicom_viewer.errors import DicomFileError
from app.dicom_viewer.frames import frame_header
from app.dicom_viewer.shutters import Shutter
from app.dicom_viewer.view_state import ViewState, image_to_viewport


@dataclass(frozen=True)
class PresentationOverrides:
    """What a presentation state may impose on top of the image's own attributes."""

    voi_table: P.VoiTable | None = None
    inverse: bool = False  # Presentation LUT Shape INVERSE
    shutter: Shutter | None = None  # replaces any shutter stored in the image


def default_window(header: Dataset) -> P.Window | None:
    """The image's first stored window (None: min-max of the frame)."""
    wins = P.file_windows(header)
    return wins[0] if wins else None


def display_pixels(
    header: Dataset,
    frame: int,
    stored: np.ndarray,
    state: ViewState,
    overrides: PresentationOverrides | None = None,
    show_overlays: bool = True,
) -> np.ndarray:
    """Stored values → uint8 display image at image resolution (gray HxW or RGB HxWx3)."""
    fh = frame_header(header, frame)
    ov = overrides or PresentationOverrides()
    if P.is_color(fh):
        img = P.render_color(fh, stored, user_invert=state.invert)
    else:
        window = state.window if P.is_finite_window(state.window) else None
        table = ov.voi_table if window is None else None
        if window is None and table is None:
            window = default_window(fh)
            if window is None:
                tables = P.file_voi_tables(fh)
                table = tables[0] if tables else None
        params = P.gray_params(
            fh, window, table, presentation_inverse=ov.inverse, user_invert=state.invert
        )
        img = P.render_gray(fh, stored, params)
    if show_overlays and img.ndim == 2:
        img = P.apply_overlays(img, P.overlay_masks(header, frame))
    mask = value = None
    if ov.shutter is not None:
        mask, value = ov.shutter.mask(img.shape[:2]), ov.shutter.display_value
    elif "ShutterShape" in header:
        mask, value = P.shutter_mask(header), P.shutter_gray(header)
    if mask is not None and mask.shape == img.shape[:2]:
        img = img.copy()
        img[mask] = value
    return img


def render_checked(
    path: str,
    header: Dataset,
    frame: int,
    stored: np.ndarray,
    state: ViewState,
    overrides: PresentationOverrides | None = None,
    show_overlays: bool = True,
) -> np.ndarray:
    """``display_pixels`` whose failures (inconsistent headers) name the file and problem."""
    try:
        return display_pixels(header, frame, stored, state, overrides, show_overlays)
    except Exception as exc:  # noqa: BLE001 - broken headers fail in many ways
        raise DicomFileError(path, f"cannot render frame {frame + 1}: {exc}") from exc


def to_viewport(
    img: np.ndarray, state: ViewState, viewport: tuple[int, int], smooth: bool = True
) -> np.ndarray:
    """Zoom/pan/rotate/flip the display image into a viewport-sized RGB uint8 array."""
    h, w = img.shape[:2]
    matrix = image_to_viewport(state, (w, h), viewport)
    # cv2 samples pixel centres at integer coordinates; DICOM pixel (0,0) is centred at 0.5.
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], float)
    unshift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], float)
    m = (unshift @ matrix @ shift)[:2]
    zoom = abs(matrix[0, 0]) + abs(matrix[0, 1])
    interp = (
        cv2.INTER_LINEAR
        if smooth and zoom > 1.0
        else (cv2.INTER_AREA if smooth else cv2.INTER_NEAREST)
    )
    if interp == cv2.INTER_AREA:
        interp = cv2.INTER_LINEAR  # warpAffine has no AREA; linear is adequate for minification
    out = cv2.warpAffine(
        img, m, viewport, flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)
    return out
