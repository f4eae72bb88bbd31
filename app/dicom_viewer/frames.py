"""Per-frame attributes of enhanced multi-frame images, flattened into a plain header.

Enhanced CT/MR keep rescale, window, pixel spacing, orientation and position inside the
Shared and Per-frame Functional Groups. The pipeline, calibration and overlays read classic
top-level attributes, so ``frame_header`` copies the relevant items up for one frame.
"""

from __future__ import annotations

import copy

from pydicom.dataset import Dataset

# functional group macro → attributes it carries that the viewer uses
_MACROS = {
    "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept", "RescaleType"),
    "FrameVOILUTSequence": (
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
        "WindowCenterWidthExplanation",
    ),
    "PixelMeasuresSequence": ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"),
    "PlaneOrientationSequence": ("ImageOrientationPatient",),
    "PlanePositionSequence": ("ImagePositionPatient",),
}


def is_enhanced(ds: Dataset) -> bool:
    """True when the image carries functional groups."""
    return "SharedFunctionalGroupsSequence" in ds or "PerFrameFunctionalGroupsSequence" in ds


def frame_header(ds: Dataset, frame: int) -> Dataset:
    """A header where functional-group values for ``frame`` appear as top-level attributes."""
    if not is_enhanced(ds):
        return ds
    flat = copy.copy(ds)  # shallow: shares element values, new top-level mapping
    groups = []
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and 0 <= frame < len(per_frame):
        groups.append(per_frame[frame])  # per-frame wins over shared
    for group in groups:
        for macro, keywords in _MACROS.items():
            seq = group.get(macro)
            if not seq:
                continue
            for keyword in keywords:
                if keyword in seq[0]:
                    setattr(flat, keyword, seq[0][keyword].value)
    return flat
