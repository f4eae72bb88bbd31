"""Reading DICOM headers and decoding single frames (the self-check is in self_check.py).

Decoding goes through pydicom 3's plugin table, which here is served by permissively
licensed plugins only (pylibjpeg-openjpeg, pylibjpeg-rle, pyjpegls, Pillow, and
libjpeg-turbo 3 through imagecodecs); GDCM is never asked (see PLUGIN_CHAIN);
the GPL pylibjpeg-libjpeg is never required. Native (uncompressed little-endian) frames take a
fast path: the pixel offset recorded at indexing time is read straight into numpy.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

from app.dicom_viewer import jpeg_turbo
from app.dicom_viewer.consistency import check_frame_stream, check_pixel_module
from app.dicom_viewer.errors import DicomFileError

_NATIVE_LE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)


@dataclass(frozen=True)
class PixelLocation:
    """Where a native frame block sits in its file (None when the fast path does not apply)."""

    offset: int
    length: int


def read_header(
    path: str | Path, data: bytes | None = None
) -> tuple[Dataset, PixelLocation | None]:
    """Read everything before the pixel data; also return where native pixel data starts.

    ``data``: the file's bytes already in memory (``path`` then only names it in messages).
    """
    path = Path(path)
    try:
        with io.BytesIO(data) if data is not None else open(path, "rb") as fp:
            try:
                ds = pydicom.dcmread(fp, stop_before_pixels=True)
            except pydicom.errors.InvalidDicomError:
                # Old CDs carry files without preamble/meta: accept them if they parse as images.
                fp.seek(0)
                ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
                if "SOPClassUID" not in ds and "Rows" not in ds:
                    raise DicomFileError(
                        path, "not a DICOM file (no DICM preamble or recognisable header)"
                    ) from None
            _ensure_transfer_syntax(ds)
            location = _pixel_location(ds, fp)
        # pydicom converts values lazily; convert everything now so a bad value is reported
        # here, naming the file, instead of surfacing later in whatever code touches it.
        ds.walk(lambda _ds, _elem: None)
        if getattr(ds, "file_meta", None) is not None:
            ds.file_meta.walk(lambda _ds, _elem: None)
    except DicomFileError:
        raise
    except FileNotFoundError as exc:
        raise DicomFileError(path, "file not found") from exc
    except Exception as exc:  # noqa: BLE001 - any parse failure is reported, never raised raw
        raise DicomFileError(path, f"unreadable DICOM header: {exc}") from exc
    return ds, location


def _pixel_location(ds: Dataset, fp) -> PixelLocation | None:  # noqa: ANN001 - binary file
    tsyntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    if tsyntax not in _NATIVE_LE:
        return None
    explicit = tsyntax == "1.2.840.10008.1.2.1"
    head = fp.read(12 if explicit else 8)
    if len(head) < 8:
        return None
    group, elem = struct.unpack("<HH", head[:4])
    if (group, elem) != (0x7FE0, 0x0010):
        return None
    if explicit:
        if len(head) < 12 or head[4:6] not in (b"OW", b"OB"):
            return None
        length = struct.unpack("<I", head[8:12])[0]
    else:
        length = struct.unpack("<I", head[4:8])[0]
    if length == 0xFFFFFFFF:
        return None
    return PixelLocation(fp.tell(), length)


def _fast_native(ds: Dataset, loc: PixelLocation, path: Path, frame: int) -> np.ndarray | None:
    """Read one native frame with numpy, or None when the layout is not a simple one."""
    bits = int(ds.get("BitsAllocated", 0))
    spp = int(ds.get("SamplesPerPixel", 1))
    if bits not in (8, 16) or spp != 1:
        return None
    rows, cols = int(ds.Rows), int(ds.Columns)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    dtype = np.dtype(("<i" if signed else "<u") + str(bits // 8))
    count = rows * cols
    start = loc.offset + frame * count * dtype.itemsize
    if (frame + 1) * count * dtype.itemsize > loc.length:
        raise DicomFileError(path, f"pixel data too short for frame {frame + 1}")
    arr = np.fromfile(path, dtype=dtype, count=count, offset=start)
    if arr.size != count:
        raise DicomFileError(path, "pixel data truncated")
    arr = arr.reshape(rows, cols)
    stored = int(ds.get("BitsStored", bits))
    if stored < bits:
        # Mask unused high bits (and sign-extend), exactly as pydicom does for native data.
        # In place: no second frame-sized allocation (this runs for every CT slice).
        if signed:
            shift = dtype.type(bits - stored)
            np.left_shift(arr, shift, out=arr)
            np.right_shift(arr, shift, out=arr)  # arithmetic shift: sign-extends
        else:
            np.bitwise_and(arr, dtype.type((1 << stored) - 1), out=arr)
    return arr


def decode_frame(
    path: str | Path,
    frame: int = 0,
    header: Dataset | None = None,
    location: PixelLocation | None = None,
    dataset: Dataset | None = None,
) -> np.ndarray:
    """Decode frame ``frame`` (0-based) to stored values; colour comes back as RGB.

    ``dataset``: the whole file already read with pixel data (``read_dataset``), so the
    frames of a multi-frame file need not re-read it each time.
    Raises DicomFileError naming the file and the problem for anything undecodable.
    """
    path = Path(path)
    if header is not None:
        check_frame_size(path, header)
    try:
        if header is not None and location is not None:
            arr = _fast_native(header, location, path, frame)
            if arr is not None:
                return arr
        ds = dataset if dataset is not None else read_dataset(path)
        if (
            "PixelData" not in ds
            and "FloatPixelData" not in ds
            and "DoubleFloatPixelData" not in ds
        ):
            raise DicomFileError(path, "no pixel data (not an image)")
        nframes = int(ds.get("NumberOfFrames", 1) or 1)
        if not 0 <= frame < nframes:
            raise DicomFileError(path, f"frame {frame + 1} out of range (1..{nframes})")
        photometric = str(ds.get("PhotometricInterpretation", "")).strip()
        native_ybr = (
            photometric in ("YBR_FULL", "YBR_FULL_422")
            and not ds.file_meta.TransferSyntaxUID.is_compressed
        )
        try:
            _check_before_decoding(ds, frame, nframes)
        except ValueError as exc:
            raise DicomFileError(path, f"inconsistent image header: {exc}") from exc
        index = None if nframes == 1 else frame
        arr = _pixel_array(ds, index, as_rgb=not native_ybr)
        if nframes > 1 and arr.ndim == (4 if int(ds.get("SamplesPerPixel", 1)) > 1 else 3):
            arr = arr[frame]
        if native_ybr:
            arr = ybr_full_to_rgb(arr, int(ds.get("BitsStored", 8)))
        expected = (int(ds.Rows), int(ds.Columns))
        if arr.ndim < 2 or arr.shape[:2] != expected or arr.size == 0:
            raise DicomFileError(
                path,
                f"decoded size {arr.shape} does not match Rows×Columns {expected[0]}×{expected[1]}",
            )
        return np.ascontiguousarray(arr)
    except (DicomFileError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - plugins raise anything, even Rust panics
        ts = _transfer_syntax_name(header)
        raise DicomFileError(path, f"cannot decode pixel data{ts}: {exc}") from exc


# pydicom's own plugin order tries GDCM first, and GDCM aborts the process on some corrupt
# streams (uncaught C++ exceptions). So each syntax gets an explicit chain of permissively
# licensed plugins, fastest first (measured on 512×512 CT, 2026-11: JPEG 2000 6.5 ms with
# openjpeg vs 10 ms with GDCM; JPEG-LS 0.6 ms with CharLS vs 2.5 ms with GDCM), and GDCM is
# never asked. Whatever decodes, it runs in a decode worker process in the viewer
# (loader.FrameSource), never in the GUI process.
PLUGIN_CHAIN: dict[str, tuple[str, ...]] = {
    "1.2.840.10008.1.2.4.50": ("pillow",),
    "1.2.840.10008.1.2.4.51": ("pillow", jpeg_turbo.LABEL),
    "1.2.840.10008.1.2.4.57": (jpeg_turbo.LABEL,),
    "1.2.840.10008.1.2.4.70": (jpeg_turbo.LABEL,),
    "1.2.840.10008.1.2.4.80": ("pyjpegls",),
    "1.2.840.10008.1.2.4.81": ("pyjpegls",),
    "1.2.840.10008.1.2.4.90": ("pylibjpeg", "pillow"),
    "1.2.840.10008.1.2.4.91": ("pylibjpeg", "pillow"),
    "1.2.840.10008.1.2.4.201": ("pylibjpeg",),
    "1.2.840.10008.1.2.4.202": ("pylibjpeg",),
    "1.2.840.10008.1.2.4.203": ("pylibjpeg",),
    "1.2.840.10008.1.2.5": ("pylibjpeg", "pydicom"),
}


jpeg_turbo.register()


def plugins_for(tsyntax: str) -> list[str]:
    """The installed plugins that will be tried for ``tsyntax``, in order."""
    from pydicom.pixels import get_decoder

    try:
        available = set(get_decoder(tsyntax).available_plugins)
    except (NotImplementedError, ValueError):
        return []
    return [p for p in PLUGIN_CHAIN.get(tsyntax, ()) if p in available]


def _pixel_array(ds: Dataset, index: int | None, as_rgb: bool) -> np.ndarray:
    tsyntax = str(ds.file_meta.TransferSyntaxUID)
    if not UID(tsyntax).is_encapsulated:
        return pydicom.pixels.pixel_array(ds, index=index, as_rgb=as_rgb)
    chain = plugins_for(tsyntax)
    if not chain:
        raise NotImplementedError(f"no decoder installed for {UID(tsyntax).name}")
    errors = []
    for plugin in chain:
        try:
            return pydicom.pixels.pixel_array(
                ds, index=index, as_rgb=as_rgb, decoding_plugin=plugin
            )
        except Exception as exc:  # noqa: BLE001 - next plugin in the chain, then report all
            errors.append(f"{plugin}: {exc}")
    raise ValueError("; ".join(errors))


def _check_before_decoding(ds: Dataset, frame: int, nframes: int) -> None:
    """Header and codestream consistency, before a native decoder sees the frame."""
    tsyntax = str(ds.file_meta.TransferSyntaxUID)
    if not UID(tsyntax).is_encapsulated:
        return
    from pydicom.encaps import get_frame

    check_pixel_module(ds, tsyntax)
    try:
        data = get_frame(ds.PixelData, frame, number_of_frames=nframes)
    except Exception as exc:  # noqa: BLE001 - broken fragments/offset table
        raise ValueError(f"cannot find frame {frame + 1} in the compressed data: {exc}") from exc
    check_frame_stream(tsyntax, data, ds)


def read_dataset(path: str | Path | BinaryIO) -> Dataset:
    """The whole file, pixel data included (raises what pydicom raises)."""
    ds = pydicom.dcmread(path, force=True)
    _ensure_transfer_syntax(ds)
    return ds


MAX_FRAME_BYTES = 1 << 30  # no real modality produces a single frame above 1 GiB


def check_frame_size(path: Path, ds: Dataset) -> None:
    """Refuse absurd sizes from broken headers before any decoder allocates for them."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 16) or 16)
    except (AttributeError, TypeError, ValueError) as exc:
        raise DicomFileError(path, f"invalid image size attributes: {exc}") from exc
    if rows <= 0 or cols <= 0 or spp not in (1, 3, 4) or bits not in (1, 8, 16, 32, 64):
        raise DicomFileError(
            path, f"invalid image geometry {rows}×{cols}, {spp} samples, {bits} bits allocated"
        )
    size = rows * cols * spp * max(bits, 8) // 8
    if size > MAX_FRAME_BYTES:
        raise DicomFileError(path, f"frame of {size / 2**30:.1f} GiB refused (broken header?)")


def ybr_full_to_rgb(ybr: np.ndarray, bits: int = 8) -> np.ndarray:
    """YBR_FULL → RGB with the PS3.3 C.7.6.3.1.2 coefficients, truncating like DCMTK."""
    y, cb, cr = (ybr[..., i].astype(np.float64) for i in range(3))
    m = float((1 << bits) - 1)
    rgb = np.stack(
        [
            y + 1.4020 * cr - 0.7010 * m,
            y - 0.3441 * cb - 0.7141 * cr + 0.5291 * m,
            y + 1.7720 * cb - 0.8859 * m,
        ],
        axis=-1,
    )
    return np.clip(rgb, 0, m).astype(ybr.dtype)


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Files without meta information: tell pydicom the syntax it detected while parsing."""
    if "TransferSyntaxUID" in getattr(ds, "file_meta", {}):
        return
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    implicit, little = ds.original_encoding if ds.original_encoding else (True, True)
    uid = (
        ImplicitVRLittleEndian
        if implicit
        else ExplicitVRLittleEndian
        if little
        else ExplicitVRBigEndian
    )
    if not hasattr(ds, "file_meta") or ds.file_meta is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid


def _transfer_syntax_name(ds: Dataset | None) -> str:
    try:
        return f" ({UID(ds.file_meta.TransferSyntaxUID).name})" if ds is not None else ""
    except Exception:  # noqa: BLE001
        return ""
