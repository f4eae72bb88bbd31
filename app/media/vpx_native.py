"""libvpx's VP8 encoder called directly (ctypes), for what FFmpeg's wrapper cannot do.

FFmpeg's ``libvpx`` encoder (all PyAV offers) reads its bitrate once, when it is opened:
the ladder's every settled rate change meant a new encoder and so a keyframe, which on a
256 kbit/s link fills the path for ~0.3 s — a freeze. libvpx itself changes the rate of a
running encoder (``vpx_codec_enc_config_set``, what libwebrtc does on each estimate), caps
keyframes (``VP8E_SET_MAX_INTRA_BITRATE_PCT``) and takes per-frame reference flags
(``VP8_EFLAG_NO_REF_*`` / ``NO_UPD_*``, the building blocks of temporal layers).

The library is the one PyAV's wheels already ship (``av.libs/libvpx-*.so.*`` on Linux,
``av.libs/libvpx*.dll`` on Windows, ``av/.dylibs`` on macOS), found the way
``app.media.opus_native`` finds libopus. The structures below mirror libvpx **1.16**'s
headers (``vpx/vpx_encoder.h``, ``vpx_image.h``, ``vpx_codec.h``, ``vp8cx.h`` at tag
v1.16.0); ``load_libvpx`` refuses any other major.minor and checks the layout against the
library's own default configuration before anything is encoded. Callers fall back to
PyAV's encoder when it returns ``None``. Every argument is validated in Python before it
reaches C; libvpx's errors become ``VpxError`` naming the call and libvpx's message.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
import sys
import threading
from dataclasses import dataclass

import numpy as np

from app.media.bundled_libs import BundledLibrary

log = logging.getLogger(__name__)

SUPPORTED_VERSION = (1, 16)  # the headers the structures below were copied from

# ABI versions from the v1.16.0 headers: vpx_tpl.h 5, vpx_ext_ratectrl.h 7 + TPL,
# vpx_image.h 5, vpx_codec.h 4 + IMAGE, vpx_encoder.h 18 + CODEC + EXT_RATECTRL.
_IMAGE_ABI = 5
_CODEC_ABI = 4 + _IMAGE_ABI
_EXT_RATECTRL_ABI = 7 + 5
ENCODER_ABI_VERSION = 18 + _CODEC_ABI + _EXT_RATECTRL_ABI  # 39

_SS_MAX_LAYERS = 5
_TS_MAX_LAYERS = 5
_TS_MAX_PERIODICITY = 16
_MAX_LAYERS = 12

_IMG_FMT_I420 = 0x100 | 2
_VBR, _CBR = 0, 1
_KF_DISABLED = 0
_ERROR_RESILIENT_DEFAULT = 0x1
_DL_REALTIME = 1
_CX_FRAME_PKT = 0
_FRAME_IS_KEY = 0x1

# vp8cx.h control ids (enum vp8e_enc_control_id)
_SET_CPUUSED = 13
_SET_NOISE_SENSITIVITY = 15
_SET_STATIC_THRESHOLD = 17
_SET_TOKEN_PARTITIONS = 18
_GET_LAST_QUANTIZER = 19
_SET_MAX_INTRA_BITRATE_PCT = 26

# Per-frame encode flags (vpx_encoder.h, vp8cx.h), for ``NativeVp8Encoder.encode(flags=)``.
FORCE_KEYFRAME = 1 << 0
NO_REF_LAST = 1 << 16  # do not predict from the last frame
NO_REF_GF = 1 << 17  # ... from the golden frame
NO_UPD_LAST = 1 << 18  # do not replace the last frame with this one
FORCE_GF = 1 << 19  # make this frame the golden frame
NO_UPD_ENTROPY = 1 << 20  # do not carry this frame's probabilities forward
NO_REF_ARF = 1 << 21  # do not predict from the alt-ref frame
NO_UPD_GF = 1 << 22  # do not replace the golden frame
NO_UPD_ARF = 1 << 23  # do not replace the alt-ref frame
FORCE_ARF = 1 << 24  # make this frame the alt-ref frame
FRAME_FLAGS = (
    FORCE_KEYFRAME
    | NO_REF_LAST
    | NO_REF_GF
    | NO_UPD_LAST
    | FORCE_GF
    | NO_UPD_ENTROPY
    | NO_REF_ARF
    | NO_UPD_GF
    | NO_UPD_ARF
    | FORCE_ARF
)

MAX_SIDE = 4096  # far beyond any call picture; libvpx's own limit is 16383
MAX_KBPS = 100_000


class VpxError(RuntimeError):
    """libvpx refused a call, or an argument was refused before reaching it."""


class _FixedBuf(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("sz", ctypes.c_size_t)]


class _Rational(ctypes.Structure):
    _fields_ = [("num", ctypes.c_int), ("den", ctypes.c_int)]


_u = ctypes.c_uint


class EncoderConfig(ctypes.Structure):
    """``vpx_codec_enc_cfg_t`` (v1.16.0)."""

    _fields_ = [
        ("g_usage", _u),
        ("g_threads", _u),
        ("g_profile", _u),
        ("g_w", _u),
        ("g_h", _u),
        ("g_bit_depth", ctypes.c_int),
        ("g_input_bit_depth", _u),
        ("g_timebase", _Rational),
        ("g_error_resilient", ctypes.c_uint32),
        ("g_pass", ctypes.c_int),
        ("g_lag_in_frames", _u),
        ("rc_dropframe_thresh", _u),
        ("rc_resize_allowed", _u),
        ("rc_scaled_width", _u),
        ("rc_scaled_height", _u),
        ("rc_resize_up_thresh", _u),
        ("rc_resize_down_thresh", _u),
        ("rc_end_usage", ctypes.c_int),
        ("rc_twopass_stats_in", _FixedBuf),
        ("rc_firstpass_mb_stats_in", _FixedBuf),
        ("rc_target_bitrate", _u),
        ("rc_min_quantizer", _u),
        ("rc_max_quantizer", _u),
        ("rc_undershoot_pct", _u),
        ("rc_overshoot_pct", _u),
        ("rc_buf_sz", _u),
        ("rc_buf_initial_sz", _u),
        ("rc_buf_optimal_sz", _u),
        ("rc_2pass_vbr_bias_pct", _u),
        ("rc_2pass_vbr_minsection_pct", _u),
        ("rc_2pass_vbr_maxsection_pct", _u),
        ("rc_2pass_vbr_corpus_complexity", _u),
        ("kf_mode", ctypes.c_int),
        ("kf_min_dist", _u),
        ("kf_max_dist", _u),
        ("ss_number_layers", _u),
        ("ss_enable_auto_alt_ref", ctypes.c_int * _SS_MAX_LAYERS),
        ("ss_target_bitrate", _u * _SS_MAX_LAYERS),
        ("ts_number_layers", _u),
        ("ts_target_bitrate", _u * _TS_MAX_LAYERS),
        ("ts_rate_decimator", _u * _TS_MAX_LAYERS),
        ("ts_periodicity", _u),
        ("ts_layer_id", _u * _TS_MAX_PERIODICITY),
        ("layer_target_bitrate", _u * _MAX_LAYERS),
        ("temporal_layering_mode", ctypes.c_int),
        ("use_vizier_rc_params", ctypes.c_int),
    ] + [
        (name, _Rational)
        for name in (
            "active_wq_factor",
            "err_per_mb_factor",
            "sr_default_decay_limit",
            "sr_diff_factor",
            "kf_err_per_mb_factor",
            "kf_frame_min_boost_factor",
            "kf_frame_max_boost_first_factor",
            "kf_frame_max_boost_subs_factor",
            "kf_max_total_boost_factor",
            "gf_max_total_boost_factor",
            "gf_frame_max_boost_factor",
            "zm_factor",
            "rd_mult_inter_qp_fac",
            "rd_mult_arf_qp_fac",
            "rd_mult_key_qp_fac",
        )
    ]


class Image(ctypes.Structure):
    """``vpx_image_t`` (v1.16.0)."""

    _fields_ = [
        ("fmt", ctypes.c_int),
        ("cs", ctypes.c_int),
        ("range", ctypes.c_int),
        ("w", _u),
        ("h", _u),
        ("bit_depth", _u),
        ("d_w", _u),
        ("d_h", _u),
        ("r_w", _u),
        ("r_h", _u),
        ("x_chroma_shift", _u),
        ("y_chroma_shift", _u),
        ("planes", ctypes.c_void_p * 4),
        ("stride", ctypes.c_int * 4),
        ("bps", ctypes.c_int),
        ("user_priv", ctypes.c_void_p),
        ("img_data", ctypes.c_void_p),
        ("img_data_owner", ctypes.c_int),
        ("self_allocd", ctypes.c_int),
        ("fb_priv", ctypes.c_void_p),
    ]


class _FramePacket(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("sz", ctypes.c_size_t),
        ("pts", ctypes.c_int64),
        ("duration", ctypes.c_ulong),
        ("flags", ctypes.c_uint32),
        ("partition_id", ctypes.c_int),
        ("width", _u * _SS_MAX_LAYERS),
        ("height", _u * _SS_MAX_LAYERS),
        ("spatial_layer_encoded", ctypes.c_uint8 * _SS_MAX_LAYERS),
    ]


class _PacketData(ctypes.Union):
    _fields_ = [
        ("frame", _FramePacket),
        ("pad", ctypes.c_char * (128 - ctypes.sizeof(ctypes.c_int))),
    ]


class CxPacket(ctypes.Structure):
    """``vpx_codec_cx_pkt_t`` (v1.16.0); only the frame variant is read."""

    _fields_ = [("kind", ctypes.c_int), ("data", _PacketData)]


class CodecContext(ctypes.Structure):
    """``vpx_codec_ctx_t``: filled by libvpx, only ever passed back to it."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("iface", ctypes.c_void_p),
        ("err", ctypes.c_int),
        ("err_detail", ctypes.c_char_p),
        ("init_flags", ctypes.c_long),
        ("config", ctypes.c_void_p),
        ("priv", ctypes.c_void_p),
    ]


def version_of(lib: ctypes.CDLL) -> tuple[int, int, int]:
    """(major, minor, patch) of a loaded libvpx."""
    lib.vpx_codec_version.restype = ctypes.c_int
    lib.vpx_codec_version.argtypes = []
    v = int(lib.vpx_codec_version())
    return (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, c_int, c_long, c_ulong = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_ulong
    ctx_p, cfg_p = ctypes.POINTER(CodecContext), ctypes.POINTER(EncoderConfig)
    lib.vpx_codec_vp8_cx.restype = p
    lib.vpx_codec_vp8_cx.argtypes = []
    lib.vpx_codec_enc_config_default.restype = c_int
    lib.vpx_codec_enc_config_default.argtypes = [p, p, ctypes.c_uint]
    lib.vpx_codec_enc_init_ver.restype = c_int
    lib.vpx_codec_enc_init_ver.argtypes = [ctx_p, p, cfg_p, c_long, c_int]
    lib.vpx_codec_enc_config_set.restype = c_int
    lib.vpx_codec_enc_config_set.argtypes = [ctx_p, cfg_p]
    lib.vpx_codec_encode.restype = c_int
    lib.vpx_codec_encode.argtypes = [
        ctx_p,
        ctypes.POINTER(Image),
        ctypes.c_int64,
        c_ulong,
        c_long,
        c_ulong,
    ]
    lib.vpx_codec_get_cx_data.restype = ctypes.POINTER(CxPacket)
    lib.vpx_codec_get_cx_data.argtypes = [ctx_p, ctypes.POINTER(p)]
    lib.vpx_codec_destroy.restype = c_int
    lib.vpx_codec_destroy.argtypes = [ctx_p]
    lib.vpx_codec_err_to_string.restype = ctypes.c_char_p
    lib.vpx_codec_err_to_string.argtypes = [c_int]
    lib.vpx_codec_error_detail.restype = ctypes.c_char_p
    lib.vpx_codec_error_detail.argtypes = [ctx_p]
    lib.vpx_img_wrap.restype = ctypes.POINTER(Image)
    lib.vpx_img_wrap.argtypes = [ctypes.POINTER(Image), c_int, ctypes.c_uint, ctypes.c_uint]
    lib.vpx_img_wrap.argtypes += [ctypes.c_uint, p]
    # vpx_codec_control_ is variadic: its arguments are passed as given (no argtypes).
    lib.vpx_codec_control_.restype = c_int
    return lib


def check_layout(lib: ctypes.CDLL) -> None:
    """Raise ``VpxError`` unless the library's VP8 defaults land where our structure says.

    ``vpx_codec_enc_config_default`` copies the library's own ``vpx_codec_enc_cfg_t``
    (vp8_cx_iface.c ``vp8e_usage_cfg_map``) into a buffer larger than ours: a field moved
    or the structure grown shows as a wrong value or a written guard byte.
    """
    guard = 256
    raw = ctypes.create_string_buffer(b"\xa5" * (ctypes.sizeof(EncoderConfig) + guard))
    err = lib.vpx_codec_enc_config_default(lib.vpx_codec_vp8_cx(), raw, 0)
    if err:
        raise VpxError(f"vpx_codec_enc_config_default failed ({err})")
    cfg = EncoderConfig.from_buffer_copy(raw.raw[: ctypes.sizeof(EncoderConfig)])
    seen = (
        cfg.g_w,
        cfg.g_h,
        cfg.g_timebase.num,
        cfg.g_timebase.den,
        cfg.rc_target_bitrate,
        cfg.rc_max_quantizer,
        cfg.kf_max_dist,
        cfg.ts_number_layers,
        cfg.rd_mult_key_qp_fac.num,
        cfg.rd_mult_key_qp_fac.den,
    )
    if seen != (320, 240, 1, 30, 256, 63, 128, 1, 1, 1):
        raise VpxError(f"libvpx's encoder configuration does not match v1.16's layout: {seen}")
    size = ctypes.sizeof(EncoderConfig)
    if raw.raw[size : size + guard] != b"\xa5" * guard:
        raise VpxError("libvpx's encoder configuration is larger than v1.16's")


def check_version(version: tuple[int, int, int]) -> None:
    """Raise ``VpxError`` unless ``version`` is the major.minor whose layout is coded here."""
    if tuple(version[:2]) != SUPPORTED_VERSION:
        raise VpxError(
            f"libvpx {'.'.join(map(str, version))} is not "
            f"{SUPPORTED_VERSION[0]}.{SUPPORTED_VERSION[1]} (the layout coded here)"
        )


def _prepare(lib: ctypes.CDLL) -> ctypes.CDLL:
    if sys.platform == "darwin" and platform.machine() == "arm64":
        # Apple's arm64 ABI passes variadic arguments differently from fixed ones and
        # ctypes cannot declare vpx_codec_control_'s: not safe to call.
        raise VpxError("not used on macOS arm64 (variadic calls)")
    check_version(version_of(lib))
    _bind(lib)
    check_layout(lib)
    return lib


_LIBVPX = BundledLibrary(
    "vpx",
    _prepare,
    missing=f"no usable libvpx {SUPPORTED_VERSION[0]}.{SUPPORTED_VERSION[1]}: "
    "PyAV's VP8 encoder instead",
)


def load_libvpx() -> ctypes.CDLL | None:
    """libvpx 1.16 with its functions bound, or ``None`` (logged once) when there is none."""
    return _LIBVPX.load()


@dataclass(frozen=True)
class EncodedFrame:
    """One VP8 frame as libvpx produced it."""

    data: bytes
    keyframe: bool


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise VpxError(f"{name} must be an integer, not {type(value).__name__}")
    if not low <= int(value) <= high:
        raise VpxError(f"{name} {value} is outside {low}…{high}")
    return int(value)


class NativeVp8Encoder:
    """One real-time VP8 encoder (libvpx via ctypes) with libwebrtc's settings.

    ``set_bitrate`` changes the rate of the running encoder without a keyframe; a keyframe
    comes first, when asked (``encode(keyframe=True)``), and never on its own
    (``kf_mode`` disabled). Not thread-safe beyond one caller at a time (a lock guards the
    context so a misuse cannot corrupt it).
    """

    def __init__(
        self,
        width: int,
        height: int,
        bitrate_bps: int,
        *,
        fps: int = 15,
        threads: int = 1,
        cpu_used: int = -6,
        min_quantizer: int = 4,
        max_quantizer: int = 63,
        max_intra_pct: int | None = None,
        error_resilient: bool = True,
        drop_frame_threshold: int = 0,
        lib: ctypes.CDLL | None = None,
    ) -> None:
        found = lib or load_libvpx()
        if found is None:
            raise VpxError(f"no usable libvpx {SUPPORTED_VERSION[0]}.{SUPPORTED_VERSION[1]}")
        self._lib: ctypes.CDLL = found
        self.width = _check_int("width", width, 2, MAX_SIDE)
        self.height = _check_int("height", height, 2, MAX_SIDE)
        if self.width % 2 or self.height % 2:
            raise VpxError(f"picture size {width}×{height} must be even (4:2:0)")
        fps = _check_int("fps", fps, 1, 120)
        _check_int("threads", threads, 1, 16)
        _check_int("cpu_used", cpu_used, -16, 16)
        _check_int("min_quantizer", min_quantizer, 0, 63)
        _check_int("max_quantizer", max_quantizer, min_quantizer, 63)
        _check_int("drop_frame_threshold", drop_frame_threshold, 0, 100)
        kbps = self._kbps(bitrate_bps)
        if max_intra_pct is None:
            # libwebrtc's MaxIntraTarget: half the optimal buffer (600 ms) in frames at this
            # rate, so a keyframe is at most ~0.3 s of the link's bits.
            max_intra_pct = max(300, 600 * fps // 20)
        max_intra_pct = _check_int("max_intra_pct", max_intra_pct, 0, 10_000)
        self._lock = threading.Lock()
        self._ctx = CodecContext()
        self._cfg = EncoderConfig()
        self._open = False
        self._last_pts: int | None = None
        self._frame_ticks = 90_000 // fps  # the duration libvpx gets with each frame
        self._gap = float(self._frame_ticks)  # average gap between frames (90 kHz ticks)
        self._clock = 0
        self.keyframes = 0
        self._call(
            "vpx_codec_enc_config_default",
            self._lib.vpx_codec_enc_config_default(
                self._lib.vpx_codec_vp8_cx(), ctypes.byref(self._cfg), 0
            ),
        )
        cfg = self._cfg
        cfg.g_w, cfg.g_h = self.width, self.height
        cfg.g_threads = threads
        cfg.g_timebase.num, cfg.g_timebase.den = 1, 90_000  # RTP's video clock
        cfg.g_error_resilient = _ERROR_RESILIENT_DEFAULT if error_resilient else 0
        cfg.g_lag_in_frames = 0
        cfg.rc_end_usage = _CBR
        cfg.rc_target_bitrate = kbps
        cfg.rc_min_quantizer, cfg.rc_max_quantizer = min_quantizer, max_quantizer
        cfg.rc_undershoot_pct, cfg.rc_overshoot_pct = 100, 15
        cfg.rc_buf_initial_sz, cfg.rc_buf_optimal_sz, cfg.rc_buf_sz = 500, 600, 1000
        cfg.rc_dropframe_thresh = drop_frame_threshold
        cfg.rc_resize_allowed = 0
        cfg.kf_mode = _KF_DISABLED
        cfg.kf_min_dist = cfg.kf_max_dist = 0
        self._call(
            "vpx_codec_enc_init_ver",
            self._lib.vpx_codec_enc_init_ver(
                ctypes.byref(self._ctx), self._lib.vpx_codec_vp8_cx(), cfg, 0, ENCODER_ABI_VERSION
            ),
        )
        self._open = True
        try:
            self._control(_SET_CPUUSED, cpu_used)
            self._control(_SET_STATIC_THRESHOLD, 1)
            self._control(_SET_NOISE_SENSITIVITY, 0)
            self._control(_SET_TOKEN_PARTITIONS, 0)  # one partition: fewest bytes
            self._control(_SET_MAX_INTRA_BITRATE_PCT, max_intra_pct)
        except VpxError:
            self.close()
            raise

    @staticmethod
    def _kbps(bitrate_bps: object) -> int:
        bps = _check_int("bitrate_bps", bitrate_bps, 1_000, MAX_KBPS * 1000)
        return max(1, round(bps / 1000))

    @property
    def bitrate_bps(self) -> int:
        """The target the encoder works to now."""
        return int(self._cfg.rc_target_bitrate) * 1000

    def set_bitrate(self, bitrate_bps: int) -> None:
        """Change the target bitrate of the running encoder (no keyframe, no new encoder)."""
        kbps = self._kbps(bitrate_bps)
        with self._lock:
            self._require_open()
            if kbps == self._cfg.rc_target_bitrate:
                return
            old = self._cfg.rc_target_bitrate
            self._cfg.rc_target_bitrate = kbps
            try:
                self._call(
                    "vpx_codec_enc_config_set",
                    self._lib.vpx_codec_enc_config_set(ctypes.byref(self._ctx), self._cfg),
                )
            except VpxError:
                self._cfg.rc_target_bitrate = old
                raise

    def encode(
        self,
        i420: np.ndarray,
        pts: int,
        *,
        keyframe: bool = False,
        flags: int = 0,
    ) -> EncodedFrame | None:
        """Encode one picture; ``None`` when libvpx dropped it.

        ``i420``: uint8, shape (height × 3/2, width) — Y, then U, then V, packed (what
        ``VideoFrame.to_ndarray()`` gives for yuv420p). ``pts``: 90 kHz ticks (libvpx gets an even
        clock at their average rate, see ``_even_clock``). ``keyframe``: make this frame a keyframe.
        ``flags``: any of the module's ``NO_REF_*`` / ``NO_UPD_*`` / ``FORCE_GF`` /
        ``FORCE_ARF`` / ``NO_UPD_ENTROPY`` (libvpx's ``VP8_EFLAG_*``): which reference
        frames this frame may predict from and which it replaces. A temporal layer-1 frame,
        for instance, is ``NO_UPD_LAST | NO_UPD_GF | NO_UPD_ARF | NO_REF_GF | NO_REF_ARF``
        (predicts from the last base frame, is never referenced: losing it breaks nothing).
        """
        flags = _check_int("flags", flags, 0, FRAME_FLAGS)
        if flags & ~FRAME_FLAGS:
            raise VpxError(f"unknown encode flags {flags & ~FRAME_FLAGS:#x}")
        pts = _check_int("pts", pts, -(1 << 62), 1 << 62)
        picture = self._checked_picture(i420)
        if keyframe:
            flags |= FORCE_KEYFRAME
        with self._lock:
            self._require_open()
            clock = self._even_clock(pts)
            image = Image()
            data = picture.ctypes.data_as(ctypes.c_void_p)
            wrapped = self._lib.vpx_img_wrap(
                ctypes.byref(image), _IMG_FMT_I420, self.width, self.height, 1, data
            )
            if not wrapped:
                raise VpxError("vpx_img_wrap refused the picture")
            self._call(
                "vpx_codec_encode",
                self._lib.vpx_codec_encode(
                    ctypes.byref(self._ctx), image, clock, self._frame_ticks, flags, _DL_REALTIME
                ),
            )
            out = self._collect()
        if out is not None and out.keyframe:
            self.keyframes += 1
        return out

    def _even_clock(self, pts: int) -> int:
        """The timestamp libvpx gets: frames evenly spaced at the recent average rate.

        libvpx's rate control takes the frame rate from successive timestamps and jumps to
        a new one at every change of 10 % or more. Our 15 fps sources decimated to 12 send
        gaps of one and two source frames, which it read as 7.5 fps every few frames and so
        spent ~1.45× the target (2.4× when each frame's duration was its gap before).
        """
        if self._last_pts is not None:
            gap = min(max(pts - self._last_pts, 1_500), 90_000)  # 60 fps … 1 fps
            self._gap += 0.1 * (gap - self._gap)
        self._last_pts = pts
        self._clock += max(1, round(self._gap))
        return self._clock

    def last_quantizer(self) -> int:
        """The last frame's quantizer index, 0–127 (what libwebrtc's quality scaler reads)."""
        value = ctypes.c_int(-1)
        with self._lock:
            self._require_open()
            self._control(_GET_LAST_QUANTIZER, ctypes.byref(value))
        return value.value

    def close(self) -> None:
        """Free libvpx's encoder (idempotent)."""
        with self._lock:
            if self._open:
                self._open = False
                self._lib.vpx_codec_destroy(ctypes.byref(self._ctx))

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def _checked_picture(self, i420: object) -> np.ndarray:
        if not isinstance(i420, np.ndarray):
            raise VpxError(f"picture must be a numpy array, not {type(i420).__name__}")
        want = (self.height * 3 // 2, self.width)
        if i420.dtype != np.uint8 or i420.shape != want:
            raise VpxError(
                f"picture must be uint8 I420 of shape {want} for {self.width}×{self.height}, "
                f"got {i420.dtype} {i420.shape}"
            )
        return np.ascontiguousarray(i420)

    def _collect(self) -> EncodedFrame | None:
        it = ctypes.c_void_p(None)
        chunks: list[bytes] = []
        key = False
        while True:
            packet = self._lib.vpx_codec_get_cx_data(ctypes.byref(self._ctx), ctypes.byref(it))
            if not packet:
                break
            if packet.contents.kind != _CX_FRAME_PKT:
                continue
            frame = packet.contents.data.frame
            if frame.sz:
                chunks.append(ctypes.string_at(frame.buf, frame.sz))
                key = key or bool(frame.flags & _FRAME_IS_KEY)
        return EncodedFrame(b"".join(chunks), key) if chunks else None

    def _require_open(self) -> None:
        if not self._open:
            raise VpxError("the VP8 encoder is closed")

    def _control(self, ctrl_id: int, value: int | object) -> None:
        arg = ctypes.c_int(value) if isinstance(value, int) else value
        err = self._lib.vpx_codec_control_(ctypes.byref(self._ctx), ctypes.c_int(ctrl_id), arg)
        self._call(f"vpx_codec_control_({ctrl_id})", err)

    def _call(self, what: str, err: int) -> None:
        if err:
            text = self._lib.vpx_codec_err_to_string(err) or b"?"
            detail = self._lib.vpx_codec_error_detail(ctypes.byref(self._ctx))
            message = f"{what}: {text.decode(errors='replace')}"
            if detail:
                message += f" ({detail.decode(errors='replace')})"
            raise VpxError(message)
