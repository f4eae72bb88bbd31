"""Drawing annotations and corner text onto an exported RGB array (Pillow, no Qt).

Geometry and wording come from the shared model (``annotations``, ``corners``); only the
drawing backend differs from the Qt widget's.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.dicom_viewer.annotations import Annotation, describe
from app.dicom_viewer.calibration import Calibration
from app.dicom_viewer.corners import CornerText, layout_corners

_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simsun.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
YELLOW = (255, 220, 0)
WHITE = (255, 255, 255)
RED = (255, 60, 60)


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default()


def draw_overlays(
    rgb: np.ndarray,
    matrix: np.ndarray,
    annotations: list[Annotation],
    cal: Calibration,
    values: np.ndarray | None,
    unit: str,
    corners: CornerText | None,
) -> np.ndarray:
    """Return a copy of ``rgb`` with annotations (image→viewport ``matrix``) and text."""
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    font = _font(max(12, rgb.shape[0] // 45))

    def to_view(p: tuple[float, float]) -> tuple[float, float]:
        x, y, _ = matrix @ np.array([p[0], p[1], 1.0])
        return float(x), float(y)

    for ann in annotations:
        pts = [to_view(p) for p in ann.outline()]
        if len(pts) >= 2:
            draw.line(pts, fill=YELLOW, width=2)
        label = describe(ann, cal, values, unit) if ann.kind != "text" else ann.text
        if ann.kind == "arrow" and ann.text:
            label = ann.text
        if label and pts:
            draw.multiline_text((pts[-1][0] + 4, pts[-1][1] + 4), label, fill=YELLOW, font=font)
    if corners is not None:
        h, w = rgb.shape[:2]
        pad = 6
        line_height = float(font.getbbox("Ag")[3]) + 4
        lines = layout_corners(corners, w, h, font.getlength, line_height, margin=pad)
        draw.multiline_text((pad, pad), "\n".join(lines["top_left"]), fill=WHITE, font=font)
        draw.multiline_text(
            (w - pad, pad),
            "\n".join(lines["top_right"]),
            fill=WHITE,
            font=font,
            anchor="ra",
            align="right",
        )
        draw.multiline_text(
            (pad, h - pad), "\n".join(lines["bottom_left"]), fill=WHITE, font=font, anchor="ld"
        )
        draw.multiline_text(
            (w - pad, h - pad),
            "\n".join(lines["bottom_right"]),
            fill=WHITE,
            font=font,
            anchor="rd",
            align="right",
        )
        if corners.lossy:
            draw.text((w // 2, pad), "LOSSY", fill=RED, font=font, anchor="ma")
        for side, label in corners.markers.items():
            pos = {
                "left": (pad, h // 2),
                "right": (w - pad, h // 2),
                "top": (w // 2, pad + 24),
                "bottom": (w // 2, h - pad),
            }[side]
            anchor = {"left": "lm", "right": "rm", "top": "ma", "bottom": "md"}[side]
            draw.text(pos, label, fill=WHITE, font=font, anchor=anchor)
    return np.asarray(img)
