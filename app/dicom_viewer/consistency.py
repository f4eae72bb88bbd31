"""Header consistency checks made before any native decoder sees a frame.

Native decoders trust what they are told: given Rows/Columns that disagree with the
codestream, or a Photometric Interpretation that disagrees with Samples per Pixel, some of
them (GDCM, in the field) abort the whole process instead of raising. So the image pixel
module is checked first, then the frame's own codestream header (JPEG SOF, JPEG-LS SOF55,
JPEG 2000 SIZ, RLE header) is parsed here in pure Python and compared with the DICOM header.
Every problem is a ``ValueError`` whose text names what is wrong; callers add the file name.
"""

from __future__ import annotations

import struct

from pydicom.dataset import Dataset

_PHOTOMETRIC_SAMPLES = {
    "MONOCHROME1": 1,
    "MONOCHROME2": 1,
    "PALETTE COLOR": 1,
    "RGB": 3,
    "YBR_FULL": 3,
    "YBR_FULL_422": 3,
    "YBR_PARTIAL_422": 3,
    "YBR_PARTIAL_420": 3,
    "YBR_ICT": 3,
    "YBR_RCT": 3,
    "HSV": 3,
    "ARGB": 4,
    "CMYK": 4,
}

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")
JPEG_LS = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")
JPEG_2000 = (
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
)
RLE = "1.2.840.10008.1.2.5"
_JPEG_FAMILY = (JPEG_BASELINE, JPEG_EXTENDED, *JPEG_LOSSLESS)


def _int(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    if value is None or value == "":
        if default is None:
            raise ValueError(f"{keyword} missing")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{keyword} is not a number ({value!r})") from None


def check_pixel_module(ds: Dataset, tsyntax: str) -> None:
    """Samples per pixel vs photometric, bit depths, planar configuration; raises ValueError."""
    spp = _int(ds, "SamplesPerPixel", 1)
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    expected = _PHOTOMETRIC_SAMPLES.get(photometric)
    if expected is None:
        raise ValueError(f"unknown Photometric Interpretation {photometric!r}")
    if expected != spp:
        raise ValueError(
            f"Photometric Interpretation {photometric} needs {expected} sample(s) per pixel, "
            f"Samples per Pixel says {spp}"
        )
    allocated = _int(ds, "BitsAllocated")
    stored = _int(ds, "BitsStored", allocated)
    high = _int(ds, "HighBit", stored - 1)
    if allocated not in (1, 8, 16, 32, 64):
        raise ValueError(f"Bits Allocated {allocated} is not 1, 8, 16, 32 or 64")
    if not 1 <= stored <= allocated:
        raise ValueError(f"Bits Stored {stored} does not fit Bits Allocated {allocated}")
    if high >= allocated or high < stored - 1:
        raise ValueError(f"High Bit {high} inconsistent with Bits Stored {stored}")
    if spp > 1 and _int(ds, "PlanarConfiguration", 0) not in (0, 1):
        raise ValueError("Planar Configuration is neither 0 nor 1")
    if tsyntax in (*_JPEG_FAMILY, *JPEG_LS, *JPEG_2000) and allocated not in (8, 16):
        raise ValueError(f"Bits Allocated {allocated} is impossible for this compression")
    if tsyntax == RLE and allocated not in (8, 16, 32):
        raise ValueError(f"Bits Allocated {allocated} is impossible for RLE")
    if tsyntax in (*_JPEG_FAMILY, *JPEG_LS, *JPEG_2000) and stored > 16:
        raise ValueError(f"Bits Stored {stored} is impossible for this compression")
    if tsyntax == JPEG_BASELINE and stored != 8:
        raise ValueError(f"JPEG Baseline holds 8-bit samples, Bits Stored says {stored}")
    if photometric == "PALETTE COLOR" and allocated not in (8, 16):
        raise ValueError(f"a palette colour image with Bits Allocated {allocated}")


def check_frame_stream(tsyntax: str, frame: bytes, ds: Dataset) -> None:
    """The frame's codestream header agrees with Rows/Columns/Samples/Bits; raises ValueError."""
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    spp = _int(ds, "SamplesPerPixel", 1)
    allocated = _int(ds, "BitsAllocated")
    if not frame:
        raise ValueError("empty compressed frame")
    if tsyntax in _JPEG_FAMILY or tsyntax in JPEG_LS:
        precision, height, width, components = _jpeg_sof(frame, tsyntax in JPEG_LS)
        _compare(rows, cols, spp, height, width, components, allow_zero_height=True)
        if precision > allocated:
            raise ValueError(
                f"codestream has {precision}-bit samples, Bits Allocated is {allocated}"
            )
    elif tsyntax in JPEG_2000:
        precision, height, width, components = _j2k_siz(frame)
        _compare(rows, cols, spp, height, width, components)
        if precision > allocated:
            raise ValueError(
                f"codestream has {precision}-bit samples, Bits Allocated is {allocated}"
            )
    elif tsyntax == RLE:
        _rle_header(frame, spp * (allocated // 8))


def _compare(
    rows: int,
    cols: int,
    spp: int,
    height: int,
    width: int,
    components: int,
    allow_zero_height: bool = False,
) -> None:
    if width != cols or (height != rows and not (allow_zero_height and height == 0)):
        raise ValueError(
            f"codestream is {width}×{height} pixels, the header says Columns {cols} × Rows {rows}"
        )
    if components != spp:
        raise ValueError(f"codestream has {components} component(s), Samples per Pixel says {spp}")


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_sof(data: bytes, jpeg_ls: bool) -> tuple[int, int, int, int]:
    """(precision, height, width, components) from the first SOF segment."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("compressed frame does not start with a JPEG SOI marker")
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise ValueError(f"damaged JPEG marker structure at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > n:
            raise ValueError(f"JPEG segment at byte {pos} runs past the end of the frame")
        if (marker == 0xF7 and jpeg_ls) or (marker in _SOF and not jpeg_ls):
            if length < 8:
                raise ValueError("JPEG frame header too short")
            p, h, w, c = struct.unpack(">BHHB", data[pos + 4 : pos + 10])
            if length < 8 + 3 * c:
                raise ValueError("JPEG frame header too short for its components")
            if not 2 <= p <= 16:
                raise ValueError(f"JPEG sample precision {p} bits")
            return p, h, w, c
        if marker in (0xDA, 0xD9):
            break
        pos += 2 + length
    raise ValueError("no JPEG frame header (SOF) found before the image data")


def _j2k_siz(data: bytes) -> tuple[int, int, int, int]:
    """(max precision, height, width, components) from the JPEG 2000 SIZ segment."""
    start = data.find(b"\xff\x4f\xff\x51", 0, 4096)  # SOC then SIZ (maybe inside a JP2 box)
    if start < 0:
        raise ValueError("no JPEG 2000 codestream header (SOC/SIZ) found")
    seg = data[start + 4 :]
    if len(seg) < 38:
        raise ValueError("JPEG 2000 SIZ segment truncated")
    (lsiz, _rsiz, xsiz, ysiz, xo, yo, _xt, _yt, _xto, _yto, csiz) = struct.unpack(
        ">HHIIIIIIIIH", seg[:38]
    )
    if csiz < 1 or lsiz != 38 + 3 * csiz or len(seg) < 38 + 3 * csiz:
        raise ValueError("JPEG 2000 SIZ segment inconsistent")
    if xo >= xsiz or yo >= ysiz:
        raise ValueError("JPEG 2000 image offset outside the image")
    precision = max((seg[38 + 3 * i] & 0x7F) + 1 for i in range(csiz))
    for i in range(csiz):
        if seg[39 + 3 * i] == 0 or seg[40 + 3 * i] == 0:
            raise ValueError("JPEG 2000 component subsampling of 0")
    return precision, ysiz - yo, xsiz - xo, csiz


def _rle_header(data: bytes, expected_segments: int) -> None:
    if len(data) < 64:
        raise ValueError("RLE frame shorter than its 64-byte header")
    values = struct.unpack("<16I", data[:64])
    count = values[0]
    if count != expected_segments:
        raise ValueError(
            f"RLE frame has {count} segment(s), the header implies {expected_segments}"
        )
    offsets = values[1 : 1 + count]
    if offsets and offsets[0] != 64:
        raise ValueError("RLE first segment does not follow the header")
    if any(b <= a for a, b in zip(offsets, offsets[1:], strict=False)) or any(
        o >= len(data) for o in offsets
    ):
        raise ValueError("RLE segment offsets out of order or past the end of the frame")
