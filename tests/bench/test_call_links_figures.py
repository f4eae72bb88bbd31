"""The call benchmark's figures: the two peers' frame records both count (ours carry the
frame's RTP time for the freeze causes, Chrome's page does not)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from bench.call_links import _figures, _freeze_causes


def _frames(with_pts: bool) -> list[tuple]:
    """10 s at 15 fps with one 0.5 s freeze at 7 s."""
    out, t = [], 0.0
    for n in range(150):
        t += 0.5 if n == 105 else 1 / 15
        out.append((t, 480, 360, n * 6000) if with_pts else (t, 480, 360))
    return out


def test_figures_take_frames_with_and_without_their_rtp_time() -> None:
    stats = SimpleNamespace(dropped_queue=0, dropped_loss=0)
    for with_pts in (True, False):
        figures = _figures(
            "lowband",
            "b",
            0.0,
            10.5,
            _frames(with_pts),
            [0.3],
            [30.0],
            [],
            None,
            10.0,
            Counter(),
            stats,
        )
        assert figures["freezes"] == 1 and figures["resolution"] == "480x360"
    causes = _freeze_causes(_frames(True), 0.0, {105 * 6000: "resent"})
    assert causes == [(7.0, 0.5, 0, "resent")]
