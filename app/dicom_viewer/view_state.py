"""What a viewport shows, as a plain record, and the image→viewport transform it implies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.dicom_viewer.pipeline import Window


@dataclass
class ViewState:
    """W/L, zoom/pan, rotation, flip, invert and frame of one viewport (JSON-able)."""

    window: Window | None = None  # None: the image's own window (or auto)
    zoom: float | None = None  # viewport pixels per image pixel; None = fit to viewport
    center: tuple[float, float] | None = None  # image point at the viewport centre; None = middle
    rotation: int = 0  # clockwise degrees: 0, 90, 180, 270 (applied after flip; GSPS files
    # hold the standard's order instead, see standard_rotation)
    flip_h: bool = False
    invert: bool = False
    frame_index: int = 0  # position in the series' frame list

    def to_dict(self) -> dict:
        return {
            "window": self.window.to_dict() if self.window else None,
            "zoom": self.zoom,
            "center": list(self.center) if self.center else None,
            "rotation": self.rotation,
            "flip_h": self.flip_h,
            "invert": self.invert,
            "frame_index": self.frame_index,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ViewState:
        return cls(
            Window.from_dict(d["window"]) if d.get("window") else None,
            d.get("zoom"),
            tuple(d["center"]) if d.get("center") else None,
            int(d.get("rotation", 0)) % 360,
            bool(d.get("flip_h", False)),
            bool(d.get("invert", False)),
            int(d.get("frame_index", 0)),
        )


def standard_rotation(rotation: int, flip_h: bool) -> int:
    """Our rotation ↔ the Image Rotation a presentation state carries (PS3.3 C.10.6).

    We flip first and then rotate; the standard rotates first and then flips. Flipping
    after a clockwise turn θ equals turning by -θ after the flip, so with a flip the angle
    changes sign; without one it is the same. The mapping is its own inverse, so it serves
    writing and reading alike.
    """
    rotation %= 360
    return (360 - rotation) % 360 if flip_h else rotation


def fit_zoom(image_size: tuple[int, int], viewport: tuple[int, int], rotation: int = 0) -> float:
    """Zoom that fits the (rotated) image in the viewport. Sizes are (width, height)."""
    w, h = image_size
    if rotation % 180:
        w, h = h, w
    return min(viewport[0] / max(w, 1), viewport[1] / max(h, 1))


def effective_zoom(
    state: ViewState, image_size: tuple[int, int], viewport: tuple[int, int]
) -> float:
    return state.zoom if state.zoom else fit_zoom(image_size, viewport, state.rotation)


def image_to_viewport(
    state: ViewState, image_size: tuple[int, int], viewport: tuple[int, int]
) -> np.ndarray:
    """3×3 affine matrix mapping image coordinates (x, y) to viewport coordinates."""
    w, h = image_size
    zoom = effective_zoom(state, image_size, viewport)
    cx, cy = state.center if state.center else (w / 2.0, h / 2.0)
    to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], float)
    flip = np.diag([-1.0 if state.flip_h else 1.0, 1.0, 1.0])
    t = np.deg2rad(state.rotation % 360)
    c, s = round(np.cos(t)), round(np.sin(t))
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], float)
    scale = np.diag([zoom, zoom, 1.0])
    to_view = np.array([[1, 0, viewport[0] / 2.0], [0, 1, viewport[1] / 2.0], [0, 0, 1]], float)
    return to_view @ scale @ rot @ flip @ to_origin


def viewport_to_image(
    state: ViewState,
    image_size: tuple[int, int],
    viewport: tuple[int, int],
    point: tuple[float, float],
) -> tuple[float, float]:
    m = np.linalg.inv(image_to_viewport(state, image_size, viewport))
    x, y, _ = m @ np.array([point[0], point[1], 1.0])
    return float(x), float(y)


def visible_image_rect(
    state: ViewState, image_size: tuple[int, int], viewport: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Image-space bounding box (x0, y0, x1, y1) of what the viewport shows."""
    corners = [(0, 0), (viewport[0], 0), (0, viewport[1]), viewport]
    pts = [viewport_to_image(state, image_size, viewport, c) for c in corners]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)
