"""The grayscale and colour display pipeline (PS3.3 C.11, PS3.14), stored values to 8-bit.

stored value → modality LUT (rescale or table) → VOI (window LINEAR / LINEAR_EXACT / SIGMOID,
or a VOI LUT table) → presentation LUT (IDENTITY / INVERSE, MONOCHROME1 inverts) → 0..255.

For integer data the whole chain is evaluated once over every possible stored value into a
lookup table, then applied with one numpy take: that is what makes scrolling with W/L cheap.
The arithmetic (window borders per Supplement 33, truncation to the output integer) follows
DCMTK's dcmimgle so that our pixels match ``dcm2pnm`` exactly; the tests check that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

OUT_MAX = 255.0


@dataclass(frozen=True)
class Window:
    """A VOI window: centre and width in modality units, and the VOI LUT function."""

    center: float
    width: float
    function: str = "LINEAR"  # LINEAR | LINEAR_EXACT | SIGMOID

    def to_dict(self) -> dict:
        """Plain JSON-able form."""
        return {"center": self.center, "width": self.width, "function": self.function}

    @classmethod
    def from_dict(cls, d: dict) -> Window:
        """Inverse of ``to_dict``."""
        return cls(float(d["center"]), float(d["width"]), str(d.get("function", "LINEAR")))


@dataclass(frozen=True)
class VoiTable:
    """A VOI LUT table: first mapped input value, output bit depth, entries."""

    first_mapped: int
    bits: int
    data: np.ndarray
    explanation: str = ""


def _first(value: object) -> float:
    if isinstance(value, MultiValue | list | tuple):
        return float(value[0])
    return float(value)  # type: ignore[arg-type]


def _all(value: object) -> list[float]:
    if isinstance(value, MultiValue | list | tuple):
        return [float(v) for v in value]
    return [float(value)]  # type: ignore[arg-type]


def is_color(ds: Dataset) -> bool:
    """True for RGB/YBR/palette images (rendered in colour)."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    return int(ds.get("SamplesPerPixel", 1)) > 1 or photometric == "PALETTE COLOR"


def file_windows(ds: Dataset) -> list[Window]:
    """The windows stored in the image (WindowCenter/Width with VOILUTFunction)."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return []
    try:
        centers, widths = _all(ds.WindowCenter), _all(ds.WindowWidth)
    except (TypeError, ValueError):
        return []
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    return [Window(c, w, function) for c, w in zip(centers, widths, strict=False) if w >= 1]


def file_voi_tables(ds: Dataset) -> list[VoiTable]:
    """The VOI LUT tables stored in the image."""
    tables = []
    for item in ds.get("VOILUTSequence", []):
        try:
            desc = item.LUTDescriptor
            data = _lut_data(item, int(desc[2]))
            tables.append(
                VoiTable(int(desc[1]), int(desc[2]), data, str(item.get("LUTExplanation", "")))
            )
        except (AttributeError, IndexError, ValueError):
            continue
    return tables


def _lut_data(item: Dataset, bits: int) -> np.ndarray:
    raw = item["LUTData"].value
    if isinstance(raw, bytes):
        dtype = "<u2" if bits > 8 or len(raw) % 2 == 0 else "u1"
        return np.frombuffer(raw, dtype=dtype).astype(np.float64)
    return np.asarray(raw, dtype=np.float64)


@dataclass(frozen=True)
class ModalityTransform:
    """Rescale slope/intercept, or a modality LUT table (which wins when present)."""

    slope: float = 1.0
    intercept: float = 0.0
    table_first: int | None = None
    table: np.ndarray | None = None

    @classmethod
    def from_dataset(cls, ds: Dataset) -> ModalityTransform:
        """Read the modality LUT module of an image."""
        seq = ds.get("ModalityLUTSequence")
        if seq:
            item = seq[0]
            desc = item.LUTDescriptor
            return cls(table_first=int(desc[1]), table=_lut_data(item, int(desc[2])))
        try:
            slope = _first(ds.get("RescaleSlope", 1.0) or 1.0)
            intercept = _first(ds.get("RescaleIntercept", 0.0) or 0.0)
        except (TypeError, ValueError):
            slope, intercept = 1.0, 0.0
        return cls(slope=slope, intercept=intercept)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Stored values → modality values (float64)."""
        if self.table is not None:
            first = self.table_first or 0
            idx = np.clip(values.astype(np.int64) - first, 0, len(self.table) - 1)
            return self.table[idx]
        return values.astype(np.float64) * self.slope + self.intercept


def stored_range(ds: Dataset) -> tuple[int, int]:
    """The smallest and largest representable stored value."""
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _voi_window(x: np.ndarray, win: Window, low: float, high: float) -> np.ndarray:
    """Window to [low, high] (low > high inverts), DCMTK's arithmetic."""
    c, w = win.center, max(win.width, 1.0)
    outrange = high - low
    if win.function == "SIGMOID":
        out = outrange / (1.0 + np.exp(-4.0 * (x - c) / w)) + low
        return np.trunc(out)
    if win.function == "LINEAR_EXACT":
        left, right = c - w / 2.0, c + w / 2.0
        out = (x - c) / w + 0.5
        res = np.trunc(low + out * outrange)
        res = np.where(x <= left, low, res)
        return np.where(x > right, high, res)
    w1 = w - 1.0
    left = c - 0.5 - w1 / 2.0
    right = c - 0.5 + w1 / 2.0
    if w1 == 0:
        res = np.full(x.shape, low)
    else:
        offset = high - ((c - 0.5) / w1 + 0.5) * outrange
        res = np.trunc(offset + x * (outrange / w1))
    res = np.where(x <= left, low, res)
    return np.where(x > right, high, res)


def _voi_table(x: np.ndarray, table: VoiTable, low: float, high: float) -> np.ndarray:
    idx = np.clip(np.trunc(x).astype(np.int64) - table.first_mapped, 0, len(table.data) - 1)
    vals = table.data[idx]
    top = float((1 << table.bits) - 1) if table.bits else float(table.data.max() or 1)
    return np.trunc(low + vals * (high - low) / top)


def min_max_window(values: np.ndarray) -> Window:
    """A window spanning the data (DCMTK's min-max algorithm)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    width = max(hi - lo + 1.0, 1.0)
    return Window(lo + (width - 1.0) / 2.0 + 0.5, width)


@dataclass(frozen=True)
class GrayParams:
    """Everything that decides a grayscale rendering besides the pixels."""

    modality: ModalityTransform
    window: Window | None = None
    voi_table: VoiTable | None = None
    invert: bool = False  # MONOCHROME1 xor INVERSE presentation LUT xor the user's invert


def gray_params(
    ds: Dataset,
    window: Window | None = None,
    voi_table: VoiTable | None = None,
    presentation_inverse: bool = False,
    user_invert: bool = False,
) -> GrayParams:
    """Collect the pipeline parameters for an image, with optional window/table overrides."""
    mono1 = str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1"
    return GrayParams(
        ModalityTransform.from_dataset(ds),
        window,
        voi_table,
        invert=mono1 ^ presentation_inverse ^ user_invert,
    )


def _to_display(values: np.ndarray, params: GrayParams, data_for_auto: np.ndarray) -> np.ndarray:
    low, high = (OUT_MAX, 0.0) if params.invert else (0.0, OUT_MAX)
    if params.voi_table is not None:
        out = _voi_table(values, params.voi_table, low, high)
    else:
        win = params.window or min_max_window(data_for_auto)
        out = _voi_window(values, win, low, high)
    return np.clip(out, 0, 255).astype(np.uint8)


def gray_lut(ds: Dataset, params: GrayParams, frame_values: np.ndarray) -> tuple[np.ndarray, int]:
    """Lookup table over every stored value: returns (lut, first stored value)."""
    lo, hi = stored_range(ds)
    domain = np.arange(lo, hi + 1, dtype=np.int64)
    # DCMTK keeps the modality output in an integer buffer (truncated); so do we for display.
    modality = np.trunc(params.modality.apply(domain))
    auto_src = modality
    if params.window is None and params.voi_table is None:
        fmin, fmax = int(frame_values.min()), int(frame_values.max())
        auto_src = params.modality.apply(np.array([fmin, fmax]))
    return _to_display(modality, params, auto_src), lo


def render_gray(ds: Dataset, stored: np.ndarray, params: GrayParams) -> np.ndarray:
    """Stored values of one frame → uint8 display image."""
    lo, hi = stored_range(ds)
    if stored.dtype.kind in "iu" and stored.dtype.itemsize <= 2 and hi - lo < (1 << 17):
        lut, first = gray_lut(ds, params, stored)
        idx = stored.astype(np.int32) - first if first else stored
        return np.take(lut, np.clip(idx, 0, len(lut) - 1))
    values = params.modality.apply(stored)
    return _to_display(values, params, values)


def modality_values(ds: Dataset, stored: np.ndarray) -> np.ndarray:
    """Stored values → modality units (HU for CT), float64, for measurements."""
    return ModalityTransform.from_dataset(ds).apply(stored)


def render_color(ds: Dataset, rgb: np.ndarray, user_invert: bool = False) -> np.ndarray:
    """RGB (already converted from YBR by the decoder) or palette indices → uint8 RGB."""
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric == "PALETTE COLOR":
        rgb = apply_palette(rgb, ds)
        bits = _palette_bits(ds)
    else:
        bits = int(ds.get("BitsStored", 8))
    if rgb.dtype != np.uint8 or bits != 8:
        shift = max(bits - 8, 0)
        rgb = (rgb.astype(np.uint32) >> shift).clip(0, 255).astype(np.uint8)
    if user_invert:
        rgb = 255 - rgb
    return rgb


def apply_palette(indices: np.ndarray, ds: Dataset) -> np.ndarray:
    """Palette indices → RGB entries.

    pydicom's apply_color_lut misreads the LUT data of big-endian files, so the (common,
    non-segmented) case is done here with the file's byte order.
    """
    if "RedPaletteColorLookupTableData" not in ds:
        from pydicom.pixels import apply_color_lut

        return apply_color_lut(indices, ds)
    channels = []
    for colour, tag in (("Red", "0028,1101"), ("Green", "0028,1102"), ("Blue", "0028,1103")):
        if f"{colour}PaletteColorLookupTableDescriptor" not in ds:
            raise ValueError(
                f"palette colour image without its {colour} Palette Color Lookup Table "
                f"Descriptor ({tag})"
            )
        desc = ds[f"{colour}PaletteColorLookupTableDescriptor"].value
        if desc is None or len(desc) != 3:
            raise ValueError(f"{colour} Palette Color Lookup Table Descriptor ({tag}) malformed")
        count, first, bits = int(desc[0]) or 65536, int(desc[1]), int(desc[2])
        raw = ds[f"{colour}PaletteColorLookupTableData"].value
        if isinstance(raw, bytes):
            order = "<" if ds.is_little_endian in (True, None) else ">"
            data = np.frombuffer(
                raw, dtype=f"{order}u2" if bits > 8 or len(raw) == 2 * count else "u1"
            )
        else:
            data = np.asarray(raw)
        data = data[:count].astype(np.uint16)
        channels.append(data[np.clip(indices.astype(np.int64) - first, 0, len(data) - 1)])
    return np.stack(channels, axis=-1)


def _palette_bits(ds: Dataset) -> int:
    try:
        return int(ds.RedPaletteColorLookupTableDescriptor[2])
    except (AttributeError, IndexError):
        return 16


# --------------------------------------------------------------------------- overlays, shutters


def overlay_masks(ds: Dataset, frame: int = 0) -> list[np.ndarray]:
    """Boolean masks (image-sized) of the 60xx graphic overlays present for ``frame``."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    masks = []
    for group in range(0x6000, 0x6020, 2):
        if (group << 16 | 0x3000) not in ds:
            continue
        try:
            arr = ds.overlay_array(group)
        except Exception:  # noqa: BLE001 - a broken overlay is skipped, the image still shows
            continue
        if arr.ndim == 3:
            origin = ds.get((group, 0x0051))
            first = int(origin.value if origin is not None and origin.value else 1) - 1
            if not 0 <= frame - first < arr.shape[0]:
                continue
            arr = arr[frame - first]
        origin = ds.get((group, 0x0050))
        oy, ox = (int(origin.value[0]) - 1, int(origin.value[1]) - 1) if origin else (0, 0)
        mask = np.zeros((rows, cols), dtype=bool)
        y0, x0 = max(oy, 0), max(ox, 0)
        y1, x1 = min(oy + arr.shape[0], rows), min(ox + arr.shape[1], cols)
        if y1 > y0 and x1 > x0:
            mask[y0:y1, x0:x1] = arr[y0 - oy : y1 - oy, x0 - ox : x1 - ox] != 0
        masks.append(mask)
    return masks


def apply_overlays(img: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    """Burn overlay planes in "replace" mode with full foreground (as DCMTK does)."""
    if not masks:
        return img
    out = img.copy()
    for mask in masks:
        out[mask] = 255
    return out


def shutter_mask(ds: Dataset) -> np.ndarray | None:
    """True where a display shutter hides the image (rectangular/circular/polygonal)."""
    shapes = str(ds.get("ShutterShape", "") or "").upper()
    if not shapes:
        return None
    rows, cols = int(ds.Rows), int(ds.Columns)
    yy, xx = np.mgrid[1 : rows + 1, 1 : cols + 1]
    visible = np.ones((rows, cols), dtype=bool)
    if "RECTANGULAR" in shapes and "ShutterLeftVerticalEdge" in ds:
        visible &= (xx >= int(ds.ShutterLeftVerticalEdge)) & (
            xx <= int(ds.ShutterRightVerticalEdge)
        )
        visible &= (yy >= int(ds.ShutterUpperHorizontalEdge)) & (
            yy <= int(ds.ShutterLowerHorizontalEdge)
        )
    if "CIRCULAR" in shapes and "CenterOfCircularShutter" in ds:
        cy, cx = (float(v) for v in ds.CenterOfCircularShutter)
        r = float(ds.RadiusOfCircularShutter)
        visible &= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    if "POLYGONAL" in shapes and "VerticesOfThePolygonalShutter" in ds:
        v = [float(x) for x in ds.VerticesOfThePolygonalShutter]
        poly = np.array(list(zip(v[1::2], v[0::2], strict=False)))  # (x, y)
        visible &= points_in_polygon(xx, yy, poly)
    return ~visible


def shutter_gray(ds: Dataset) -> int:
    """Display value of shuttered pixels (ShutterPresentationValue is a 16-bit P-value)."""
    value = ds.get("ShutterPresentationValue")
    return 0 if value is None else int(round(int(value) / 65535 * 255))


def points_in_polygon(xx: np.ndarray, yy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule point-in-polygon for grids of points (poly: (N, 2) x, y)."""
    inside = np.zeros(xx.shape, dtype=bool)
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        if y1 == y2:
            continue
        cond = (yy >= min(y1, y2)) & (yy < max(y1, y2))
        xcross = x1 + (yy - y1) * (x2 - x1) / (y2 - y1)
        inside ^= cond & (xx < xcross)
    return inside


def is_finite_window(win: Window | None) -> bool:
    """Guard against NaN/inf windows coming from broken files or user input."""
    return win is not None and math.isfinite(win.center) and math.isfinite(win.width)
