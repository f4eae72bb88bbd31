"""Writing an exported view to disk (called on a worker: encoding a large PNG takes time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage


def save_image(image: QImage | np.ndarray, path: Path) -> Path:
    """Save a QImage (what Qt painted) or an RGB array as PNG/JPEG; raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(image, QImage):
        if not image.save(str(path)):
            raise OSError(f"cannot write {path}")
        return path
    from PIL import Image

    Image.fromarray(image).save(path)
    return path
