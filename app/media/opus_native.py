"""libopus's decoder called directly (ctypes), for what FFmpeg's wrapper cannot do.

FFmpeg's ``libopus`` decoder hands every packet to ``opus_decode`` with ``decode_fec=0``
and has no way to ask for packet-loss concealment, so a lost packet is simply missing
audio, and the in-band FEC (LBRR) our encoder sends is never used. libopus itself offers
both: ``opus_decode(next_packet, decode_fec=1)`` rebuilds the lost packet from the coarse
copy carried in the next one, and ``opus_decode(NULL)`` synthesises a plausible
continuation (PLC) that fades out over a few hundred milliseconds.

The library is the one PyAV's wheels already ship (``av.libs/libopus-*.so`` on Linux,
``av.libs/libopus-0-*.dll`` on Windows, ``av/.dylibs`` on macOS; in a PyInstaller bundle
the same folders under ``sys._MEIPASS``), so no new dependency. ``load_libopus()`` returns
``None`` when no libopus can be found; callers fall back to FFmpeg's decoder then.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import numpy as np

from app.media.bundled_libs import BundledLibrary

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
MAX_FRAME_SAMPLES = 5760  # 120 ms at 48 kHz: the longest Opus packet
OPUS_OK = 0


class OpusError(RuntimeError):
    """libopus returned an error code."""


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_decoder_destroy.restype = None
    lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_decode.restype = ctypes.c_int
    lib.opus_decode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int32,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.opus_packet_get_nb_samples.restype = ctypes.c_int
    lib.opus_packet_get_nb_samples.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]
    lib.opus_packet_has_lbrr.restype = ctypes.c_int
    lib.opus_packet_has_lbrr.argtypes = [ctypes.c_char_p, ctypes.c_int32]
    return lib


_LIBOPUS = BundledLibrary(
    "opus", _bind, missing="libopus not found: lost audio packets cannot be recovered or concealed"
)


def load_libopus() -> ctypes.CDLL | None:
    """The libopus shared library (loaded once), or ``None`` if none is present."""
    return _LIBOPUS.load()


def packet_samples(data: bytes) -> int:
    """Samples per channel at 48 kHz that ``data`` (one Opus packet) decodes to."""
    lib = load_libopus()
    if lib is None:
        raise OpusError("libopus not available")
    n = lib.opus_packet_get_nb_samples(data, len(data), SAMPLE_RATE)
    if n < 0:
        raise OpusError(f"invalid Opus packet ({n})")
    return n


def has_fec(data: bytes) -> bool:
    """True if the packet carries an in-band FEC copy of the packet before it."""
    lib = load_libopus()
    return bool(lib and lib.opus_packet_has_lbrr(data, len(data)) == 1)


class NativeOpusDecoder:
    """One libopus decoder: normal decode, FEC recovery of the previous packet, PLC."""

    def __init__(self, channels: int = 1) -> None:
        lib = load_libopus()
        if lib is None:
            raise OpusError("libopus not available")
        self._lib = lib
        self.channels = channels
        error = ctypes.c_int(0)
        self._state = lib.opus_decoder_create(SAMPLE_RATE, channels, ctypes.byref(error))
        if error.value != OPUS_OK or not self._state:
            raise OpusError(f"opus_decoder_create failed ({error.value})")
        self._pcm = (ctypes.c_int16 * (MAX_FRAME_SAMPLES * channels))()

    def _run(self, data: bytes | None, samples: int, fec: bool) -> np.ndarray:
        samples = max(120, min(MAX_FRAME_SAMPLES, samples))
        n = self._lib.opus_decode(
            self._state, data, len(data) if data else 0, self._pcm, samples, 1 if fec else 0
        )
        if n < 0:
            raise OpusError(f"opus_decode failed ({n})")
        pcm = np.frombuffer(memoryview(self._pcm), dtype=np.int16, count=n * self.channels).copy()
        return pcm.reshape(1, -1)  # packed s16: one plane, channels interleaved

    def decode(self, data: bytes) -> np.ndarray:
        """Decode one received packet."""
        return self._run(data, MAX_FRAME_SAMPLES, fec=False)

    def recover(self, next_packet: bytes, samples: int) -> np.ndarray:
        """Rebuild the ``samples`` just before ``next_packet`` from its FEC (PLC if it has none)."""
        return self._run(next_packet, samples, fec=True)

    def conceal(self, samples: int) -> np.ndarray:
        """Packet-loss concealment for ``samples`` (a multiple of 2.5 ms)."""
        return self._run(None, samples, fec=False)

    def close(self) -> None:
        """Free the decoder."""
        if self._state:
            self._lib.opus_decoder_destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()
