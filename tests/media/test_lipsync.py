"""Lip sync from RTCP sender reports: the receiver sees how late video is against its audio
and holds the audio back until the skew is inside ITU-R BT.1359's window."""

from __future__ import annotations

from app.media.lipsync import TARGET_S, WINDOW, LipSync

NTP = 1 << 32  # one second in NTP units


def _feed(sync: LipSync, seconds: float, video_lag_s: float, start: float = 0.0) -> None:
    """Frames captured every 20 ms; audio handed out 0.1 s after capture (plus the sync's
    delay), video ``video_lag_s`` after that."""
    t = start
    while t < start + seconds:
        # Sender clock = capture time + 1000 s; RTP origins differ per stream.
        sync.sender_report("audio", int((1000 + t) * NTP), (5_000 + int(t * 48_000)) % (1 << 32))
        sync.sender_report("video", int((1000 + t) * NTP), (9_000 + int(t * 90_000)) % (1 << 32))
        sync.handed_out("video", int(t * 90_000), t + 0.1 + video_lag_s)
        sync.handed_out("audio", int(t * 48_000), t + 0.1 + sync.audio_delay_s)
        t += 0.02


def _sync() -> LipSync:
    sync = LipSync()
    sync.set_origin("audio", lambda: 5_000)
    sync.set_origin("video", lambda: 9_000)
    return sync


def test_video_late_by_half_a_second_is_measured_and_audio_held_back() -> None:
    sync = _sync()
    _feed(sync, 0.5, video_lag_s=0.5)
    assert sync.skew_s is not None and abs(sync.skew_s - 0.5) < 0.01
    assert sync.in_window() is False
    _feed(sync, 5.0, video_lag_s=0.5, start=0.5)
    assert WINDOW[0] <= sync.skew_s <= WINDOW[1]
    assert abs(sync.audio_delay_s - (0.5 - TARGET_S)) < 0.01
    assert sync.corrections == 1  # one move, not a drift of small steps


def test_in_sync_streams_are_left_alone_and_the_delay_is_bounded() -> None:
    sync = _sync()
    _feed(sync, 3.0, video_lag_s=0.0)
    assert sync.in_window() is True and sync.audio_delay_s == 0.0
    late = _sync()
    late.max_audio_delay_s = 0.2
    _feed(late, 5.0, video_lag_s=0.9)
    assert late.audio_delay_s == 0.2  # the voice is not delayed past the budget
    assert late.in_window() is False


def test_nothing_is_claimed_before_sender_reports_and_origins() -> None:
    sync = LipSync()
    sync.handed_out("video", 0, 1.0)
    sync.handed_out("audio", 0, 1.0)
    assert sync.skew_s is None and sync.in_window() is None


def test_rtp_timestamps_wrapping_between_report_and_frame() -> None:
    sync = LipSync()
    sync.set_origin("audio", lambda: (1 << 32) - 100)
    sync.set_origin("video", lambda: 0)
    sync.sender_report("audio", 10 * NTP, (1 << 32) - 50)
    # pts 1000 is RTP 900 after the wrap: 950 samples after the report's timestamp.
    stream = sync._streams["audio"]
    assert abs(stream.sender_time(1000) - (10 + 950 / 48_000)) < 1e-9


def test_the_stats_panel_says_how_far_video_is_from_its_audio(qtbot) -> None:  # noqa: ANN001
    from app.media.stats import CallStats
    from app.ui.call.stats_panel import StatsPanel

    panel = StatsPanel()
    qtbot.addWidget(panel)
    panel.show_stats(CallStats(av_skew_s=0.031, audio_sync_delay_s=0.52))
    assert panel.values["lipsync"].text() == "+31 ms (audio held 520 ms)"
    panel.show_stats(CallStats())
    assert panel.values["lipsync"].text().startswith("–")


def test_audio_waiting_in_the_speaker_buffer_counts_as_later() -> None:
    sync = _sync()
    sync.audio_output_s = lambda: 0.1  # 100 ms queued before the speaker plays it
    _feed(sync, 0.5, video_lag_s=0.1)  # video handed out 100 ms after its audio
    assert sync.skew_s is not None and abs(sync.skew_s) < 0.01  # heard together
