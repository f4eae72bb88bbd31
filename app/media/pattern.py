"""The synthetic test pattern: a moving picture with a machine-readable stamp painted in.

The stamp (frame counter + send time in ms) is a 16×4 grid of black/white cells across the
top quarter of the frame, big enough to survive VP8 at 160×120 and tens of kbit/s. The
receiver reads it back to measure glass-to-glass latency and to find the source frame for
PSNR. A checksum rejects cells misread after heavy compression. The same numbers are also
printed as text for people looking at the screen.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

COLS, ROWS = 16, 4
COUNTER_BITS, TIME_BITS, CHECK_BITS = 24, 32, 8
BAND_FRACTION = 0.25


def _checksum(counter: int, t_ms: int) -> int:
    data = (counter & 0xFFFFFF).to_bytes(3, "big") + (t_ms & 0xFFFFFFFF).to_bytes(4, "big")
    return (sum(data) ^ 0xA5) & 0xFF


def _bits(counter: int, t_ms: int) -> list[int]:
    value = ((counter & 0xFFFFFF) << 40) | ((t_ms & 0xFFFFFFFF) << 8) | _checksum(counter, t_ms)
    return [(value >> (63 - i)) & 1 for i in range(64)]


def _cell_edges(size: int, count: int) -> np.ndarray:
    return np.linspace(0, size, count + 1).round().astype(int)


def now_ms() -> int:
    """Wall-clock milliseconds modulo 2**32 (both ends of a loopback test share the clock)."""
    return int(time.time() * 1000) & 0xFFFFFFFF


class PatternPainter:
    """Paints frames of a given size; the background is computed once per size."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        x = np.linspace(0, 255, width, dtype=np.float32)
        y = np.linspace(0, 255, height, dtype=np.float32)
        bg = np.empty((height, width, 3), np.uint8)
        bg[..., 0] = x[None, :].astype(np.uint8)
        bg[..., 1] = y[:, None].astype(np.uint8)
        bg[..., 2] = (255 - (x[None, :] + y[:, None]) / 2).astype(np.uint8)
        self._background = bg
        self._band_h = int(height * BAND_FRACTION)
        self._xs = _cell_edges(width, COLS)
        self._ys = _cell_edges(self._band_h, ROWS)

    def paint(self, counter: int, t_ms: int) -> np.ndarray:
        """An RGB frame (height × width × 3, uint8) for ``counter`` sent at ``t_ms``."""
        img = self._background.copy()
        w, h, band = self.width, self.height, self._band_h
        # A box sweeping across so motion (and motion artefacts) are always present.
        box = max(8, h // 5)
        span = max(1, w - box)
        pos = (counter * max(2, w // 60)) % (2 * span)
        x0 = pos if pos < span else 2 * span - pos
        y0 = band + (h - band - box) // 2
        img[y0 : y0 + box, x0 : x0 + box] = (250, 250, 40)
        for i, bit in enumerate(_bits(counter, t_ms)):
            r, c = divmod(i, COLS)
            img[self._ys[r] : self._ys[r + 1], self._xs[c] : self._xs[c + 1]] = 255 if bit else 0
        scale = max(0.3, h / 480)
        stamp = time.strftime("%H:%M:%S", time.localtime()) + f".{t_ms % 1000:03d}"
        cv2.putText(
            img,
            f"#{counter}  {stamp}",
            (4, h - max(6, int(12 * scale))),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            max(1, int(2 * scale)),
        )
        return img


def read_stamp(img: np.ndarray) -> tuple[int, int] | None:
    """(counter, t_ms) read from a received RGB frame, or None when unreadable."""
    h, w = img.shape[:2]
    band = int(h * BAND_FRACTION)
    xs, ys = _cell_edges(w, COLS), _cell_edges(band, ROWS)
    luma = img[:band].mean(axis=2) if img.ndim == 3 else img[:band]
    value = 0
    for i in range(64):
        r, c = divmod(i, COLS)
        y0, y1, x0, x1 = ys[r], ys[r + 1], xs[c], xs[c + 1]
        # Sample the middle of the cell: edges bleed into neighbours after compression.
        dy, dx = max(1, (y1 - y0) // 4), max(1, (x1 - x0) // 4)
        cell = luma[y0 + dy : max(y0 + dy + 1, y1 - dy), x0 + dx : max(x0 + dx + 1, x1 - dx)]
        value = (value << 1) | int(cell.mean() > 127)
    counter, t_ms, check = value >> 40, (value >> 8) & 0xFFFFFFFF, value & 0xFF
    if check != _checksum(counter, t_ms):
        return None
    return counter, t_ms


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two RGB frames (resized to ``a``'s size)."""
    if a.shape != b.shape:
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 99.0 if mse <= 1e-10 else 10.0 * np.log10(255.0**2 / mse)
