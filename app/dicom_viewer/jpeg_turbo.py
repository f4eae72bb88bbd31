"""pydicom decoder plugin for JPEG Extended (12-bit) and JPEG Lossless through libjpeg-turbo 3,
as built into imagecodecs (BSD-3-Clause; libjpeg-turbo under its BSD-style/IJG licences).

The one adapter that touches imagecodecs (version-checked here). It replaces GDCM for these
syntaxes: GDCM aborts the process on some corrupt streams, and the only other pydicom plugin
for 12-bit and lossless JPEG (pylibjpeg-libjpeg) is GPLv3.
"""

from __future__ import annotations

from pydicom.pixels.decoders.base import DecodeRunner

LABEL = "libjpeg-turbo"
EXTENDED = "1.2.840.10008.1.2.4.51"
LOSSLESS = ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")
DECODER_DEPENDENCIES = {uid: ("imagecodecs>=2024.1",) for uid in (EXTENDED, *LOSSLESS)}
MIN_TURBO = (3, 0)  # lossless and 12-bit decoding arrived in libjpeg-turbo 3.0


def turbo_version() -> tuple[int, ...] | None:
    """libjpeg-turbo's version inside imagecodecs, or None when it is not there."""
    try:
        import imagecodecs
    except ImportError:
        return None
    if not getattr(imagecodecs, "JPEG8", None) or not imagecodecs.JPEG8.available:
        return None
    text = str(imagecodecs.jpeg8_version()).split()[-1].split("/")[0]
    try:
        return tuple(int(x) for x in text.split("."))
    except ValueError:
        return None


def is_available(uid: str) -> bool:
    version = turbo_version()
    return uid in DECODER_DEPENDENCIES and version is not None and version >= MIN_TURBO


def _decode_frame(src: bytes, runner: DecodeRunner) -> bytes:
    """One frame's stored values (colour left as the codestream has it, like Pillow's plugin)."""
    import imagecodecs

    if runner.samples_per_pixel > 1 and runner.transfer_syntax == EXTENDED:
        raise NotImplementedError("12-bit colour JPEG is not supported")
    arr = imagecodecs.jpeg8_decode(src)
    if runner.bits_allocated == 16 and arr.dtype.itemsize == 1:
        arr = arr.astype("<u2")
    return arr.tobytes()


def register() -> None:
    """Offer this plugin to pydicom's decoders for 12-bit and lossless JPEG (once)."""
    from pydicom.pixels import get_decoder

    for uid in DECODER_DEPENDENCIES:
        try:
            get_decoder(uid).add_plugin(LABEL, (__name__, "_decode_frame"))
        except ValueError:
            pass  # already registered (the module was imported before)
