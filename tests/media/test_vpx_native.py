"""The native VP8 encoder (libvpx via ctypes): rate changes in place, real output, refusals."""

from __future__ import annotations

import ctypes
import fractions
import platform
import sys

import av
import numpy as np
import pytest
from av import VideoFrame

from app.media import vpx_native
from app.media.lowband import LowbandVp8Encoder, SendControl
from app.media.pattern import PatternPainter, psnr

lib = vpx_native.load_libvpx()
pytestmark = pytest.mark.skipif(lib is None, reason="no libvpx 1.16 in PyAV's wheel")

W, H, FPS = 320, 240, 15


def _pictures(count: int, noise: float, seed: int = 1) -> list[np.ndarray]:
    """The moving test pattern as I420, with camera-like noise so rate control has work."""
    painter, rng = PatternPainter(W, H), np.random.default_rng(seed)
    out = []
    for n in range(count):
        rgb = painter.paint(n, 1000 + n).astype(np.float32)
        if noise:
            rgb += rng.normal(0, noise, rgb.shape)
        frame = VideoFrame.from_ndarray(np.clip(rgb, 0, 255).astype(np.uint8), format="rgb24")
        out.append(frame.reformat(format="yuv420p").to_ndarray())
    return out


def _decode(data: bytes, decoder: av.CodecContext) -> list[np.ndarray]:
    return [f.to_ndarray(format="rgb24") for f in decoder.decode(av.Packet(data))]


def test_layout_matches_the_v1_16_headers() -> None:
    """Sizes measured with gcc against libvpx v1.16.0's headers (LP64)."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("sizes measured for Linux x86-64")
    assert ctypes.sizeof(vpx_native.EncoderConfig) == 504
    assert vpx_native.EncoderConfig.rc_target_bitrate.offset == 112
    assert vpx_native.EncoderConfig.kf_max_dist.offset == 168
    assert ctypes.sizeof(vpx_native.Image) == 136
    assert vpx_native.Image.planes.offset == 48
    assert ctypes.sizeof(vpx_native.CxPacket) == 136
    assert ctypes.sizeof(vpx_native.CodecContext) == 56
    assert vpx_native.ENCODER_ABI_VERSION == 39
    vpx_native.check_layout(lib)  # the library's own defaults land where we read them


def test_rate_changes_in_place_without_a_keyframe_and_output_follows_it() -> None:
    pictures = _pictures(30, noise=12.0)
    encoder = vpx_native.NativeVp8Encoder(W, H, 300_000, fps=FPS)
    sizes: list[int] = []
    keys: list[int] = []
    for n in range(300):  # 10 s at 300 kbit/s, then 10 s at 100 kbit/s
        if n == 150:
            encoder.set_bitrate(100_000)
        out = encoder.encode(pictures[n % 30], n * 90_000 // FPS)
        assert out is not None
        sizes.append(len(out.data))
        if out.keyframe:
            keys.append(n)
    assert keys == [0]  # the first frame only: no keyframe for the rate change
    high = sum(sizes[75:150]) * 8 / 5  # the last 5 s of each rate
    low = sum(sizes[225:300]) * 8 / 5
    assert 240_000 < high < 340_000, high
    assert 75_000 < low < 125_000, low
    assert encoder.bitrate_bps == 100_000 and encoder.keyframes == 1
    assert 0 <= encoder.last_quantizer() <= 127
    encoder.close()


def test_uneven_frame_gaps_keep_the_rate() -> None:
    """15 fps decimated to 12 (gaps of one and two source frames), as the ladder sends."""
    pictures = _pictures(30, noise=12.0)
    encoder = vpx_native.NativeVp8Encoder(W, H, 100_000, fps=FPS)
    pts = [n * 6000 for n in range(150) if n % 5 != 1][:120]  # 12 of every 15 frames
    sizes = [len(encoder.encode(pictures[i % 30], t).data) for i, t in enumerate(pts)]
    rate = sum(sizes[60:]) * 8 / ((pts[-1] - pts[60] + 7500) / 90_000)
    assert 75_000 < rate < 125_000, rate  # a per-frame duration from the gaps read 5 fps: 2.2×


def test_output_decodes_and_resembles_the_input() -> None:
    pictures = _pictures(40, noise=0.0)
    encoder = vpx_native.NativeVp8Encoder(W, H, 250_000, fps=FPS)
    decoder = av.CodecContext.create("vp8", "r")
    scores = []
    for n, picture in enumerate(pictures):
        flags = vpx_native.NO_UPD_GF | vpx_native.NO_UPD_ARF if n % 2 else 0
        out = encoder.encode(picture, n * 6000, keyframe=n == 20, flags=flags)
        assert out is not None and out.keyframe == (n in (0, 20))
        (decoded,) = _decode(out.data, decoder)
        original = VideoFrame.from_ndarray(picture, format="yuv420p").to_ndarray(format="rgb24")
        scores.append(psnr(original, decoded))
    assert min(scores[5:]) > 30, scores


def test_the_lowband_encoder_follows_the_ladder_without_new_keyframes() -> None:
    control = SendControl(video_bps=200_000)
    encoder = LowbandVp8Encoder(control)
    pictures = _pictures(10, noise=4.0)
    for n in range(90):
        if n == 30:
            control.video_bps = 120_000  # a settled 40 % cut: PyAV's encoder re-opened here
        if n == 60:
            control.video_bps = 260_000
        frame = VideoFrame.from_ndarray(pictures[n % 10], format="yuv420p")
        frame.pts, frame.time_base = n * 6000, fractions.Fraction(1, 90_000)
        payloads, _ = encoder.encode(frame)
        assert payloads
    assert encoder.native is not None  # the request less its packets' headers:
    assert 0.85 * 260_000 <= encoder.native.bitrate_bps <= 260_000
    # Both ladder steps (and the header allowance settling in the first seconds) in place.
    assert encoder.keyframes == 1 and encoder.rate_changes_in_place >= 2


def test_bad_arguments_are_refused_with_a_reason() -> None:
    encoder = vpx_native.NativeVp8Encoder(160, 120, 50_000)
    good = np.zeros((180, 160), np.uint8)
    with pytest.raises(vpx_native.VpxError, match="shape"):
        encoder.encode(np.zeros((120, 160), np.uint8), 0)
    with pytest.raises(vpx_native.VpxError, match="uint8"):
        encoder.encode(good.astype(np.float32), 0)
    with pytest.raises(vpx_native.VpxError, match="numpy array"):
        encoder.encode(b"\x00" * 28800, 0)  # type: ignore[arg-type]
    with pytest.raises(vpx_native.VpxError, match="flags"):
        encoder.encode(good, 0, flags=1 << 30)
    with pytest.raises(vpx_native.VpxError, match="bitrate_bps"):
        encoder.set_bitrate(-5)
    with pytest.raises(vpx_native.VpxError, match="even"):
        vpx_native.NativeVp8Encoder(161, 120, 50_000)
    with pytest.raises(vpx_native.VpxError, match="width"):
        vpx_native.NativeVp8Encoder(0, 120, 50_000)
    assert encoder.encode(good[::-1], 0) is not None  # a non-contiguous view is copied
    encoder.close()
    with pytest.raises(vpx_native.VpxError, match="closed"):
        encoder.encode(good, 1)


class _FakeLib:
    """A 'libvpx' whose default configuration comes from Python."""

    def __init__(self, shift: int) -> None:
        self.shift = shift

    def vpx_codec_vp8_cx(self) -> int:
        return 1

    def vpx_codec_enc_config_default(self, iface: int, buf: ctypes.Array, usage: int) -> int:
        real = vpx_native.EncoderConfig()
        lib.vpx_codec_enc_config_default(lib.vpx_codec_vp8_cx(), ctypes.byref(real), 0)
        data = b"\x00" * self.shift + bytes(real)
        ctypes.memmove(buf, data, len(data))
        return 0


def test_another_layout_or_version_is_refused() -> None:
    vpx_native.check_layout(_FakeLib(0))
    with pytest.raises(vpx_native.VpxError, match="layout"):
        vpx_native.check_layout(_FakeLib(4))  # every field one place on: a different struct
    with pytest.raises(vpx_native.VpxError, match="larger"):
        vpx_native.check_layout(_Longer())  # a field added at the end
    with pytest.raises(vpx_native.VpxError, match="1.15"):
        vpx_native.check_version((1, 15, 2))
    vpx_native.check_version((1, 16, 3))


class _Longer(_FakeLib):
    def __init__(self) -> None:
        super().__init__(0)

    def vpx_codec_enc_config_default(self, iface: int, buf: ctypes.Array, usage: int) -> int:
        super().vpx_codec_enc_config_default(iface, buf, usage)
        ctypes.memset(ctypes.addressof(buf) + ctypes.sizeof(vpx_native.EncoderConfig), 0, 8)
        return 0


def test_the_vp8_target_leaves_room_for_packet_headers() -> None:
    """The ladder budgets the wire; VP8 bytes travel with ~62 bytes of headers a packet."""
    control = SendControl(video_bps=150_000)
    encoder = LowbandVp8Encoder(control)
    assert encoder.target_bitrate == 150_000  # nothing sent yet
    for n in range(21):  # 2 s at 10 frames of 4 packets a second: 40 packets a second
        encoder._packets_sent.append((100.0 + n * 0.1, 4))
    assert encoder.packet_rate() == pytest.approx(40.0)
    assert encoder.target_bitrate == 150_000 - 40 * 62 * 8
