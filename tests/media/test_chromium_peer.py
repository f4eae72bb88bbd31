"""Our low-band call layer against a real peer: Debian's Chromium (libwebrtc), headless.

Our copy of the previous audio packet in the Opus padding, our encoders and receive
buffers must all still work with a stock WebRTC peer: Chrome decodes our picture and voice,
and we decode its picture (the same stamped pattern, read back) and voice.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from app.media.engine import MediaConfig, MediaSession
from app.media.ladder import rung_index
from app.media.loopback import use_loopback_candidates
from app.media.pattern import read_stamp
from app.media.sources import SyntheticVideoTrack, ToneAudioTrack
from tests.linkemu.profile import LinkProfile
from tests.linkemu.udp import UdpLinkEmulator
from tests.support.chromium import (
    Browser,
    chromium_binary,
    host_address,
    keep_udp_candidates,
    page_server,
)


def test_a_call_with_chromium_both_ways() -> None:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    use_loopback_candidates()
    got = {"video": 0, "audio": 0, "stamps": 0}

    def on_frame(frame, now: float) -> None:  # noqa: ANN001
        if hasattr(frame, "width"):
            got["video"] += 1
            if got["video"] % 5 == 0 and read_stamp(frame.to_ndarray(format="rgb24")):
                got["stamps"] += 1
        else:
            got["audio"] += 1

    async def call(url: str) -> tuple[dict, dict]:
        offer: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def send_signal(kind: str, session: int, sdp: str) -> None:
            if kind == "offer" and not offer.done():
                offer.set_result(sdp)

        with UdpLinkEmulator(LinkProfile(), host=host_address()) as emu:
            ours = MediaSession(
                offerer=True,
                send_signal=send_signal,
                video_source=SyntheticVideoTrack(320, 240, 15),
                audio_source=ToneAudioTrack(),
                config=MediaConfig(
                    start_rung=rung_index("160x120@10"), sdp_rewriter=emu.rewrite_sdp
                ),
                on_remote_frame=on_frame,
            )
            browser = Browser(binary, url)
            ws = None
            try:
                ws, page = await browser.page()
                await page.eval("peer.start()")
                await ours.start()
                sdp = await asyncio.wait_for(offer, 30)
                # Each side's candidates become emulator relays (ours rewrites what it
                # receives itself: ``sdp_rewriter``).
                answer = await page.eval(f"peer.answer({json.dumps(emu.rewrite_sdp(sdp))})")
                await ours.handle_signal("answer", ours.session, keep_udp_candidates(answer))
                deadline = time.monotonic() + 45
                stats: dict = {}
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    stats = await page.eval("peer.stats()")
                    decoded = stats.get("inbound-rtp:video", {}).get("framesDecoded", 0)
                    heard = stats.get("inbound-rtp:audio", {}).get("totalSamplesReceived", 0)
                    if decoded >= 20 and heard >= 48_000 and got["stamps"] >= 3:
                        break
                return stats, dict(got)
            finally:
                if ws is not None:
                    await ws.close()
                browser.close()
                await ours.close()

    with page_server() as url:
        stats, received = asyncio.run(call(url))
    video = stats.get("inbound-rtp:video", {})
    audio = stats.get("inbound-rtp:audio", {})
    print(
        f"Chrome decoded {video.get('framesDecoded')} frames "
        f"{video.get('frameWidth')}x{video.get('frameHeight')}, "
        f"{audio.get('totalSamplesReceived')} samples ({audio.get('concealedSamples')} "
        f"concealed); we got {received}"
    )
    assert video.get("framesDecoded", 0) >= 20, f"Chrome decoded too little of our video: {video}"
    assert video.get("frameWidth", 0) >= 160
    assert audio.get("totalSamplesReceived", 0) >= 48_000, f"Chrome heard too little: {audio}"
    concealed = audio.get("concealedSamples", 0) / max(1, audio.get("totalSamplesReceived", 1))
    assert concealed < 0.2, f"Chrome concealed {100 * concealed:.0f} % of our audio"
    assert received["stamps"] >= 3, f"we did not decode Chrome's picture: {received}"
    assert received["audio"] >= 50, f"we did not hear Chrome: {received}"
