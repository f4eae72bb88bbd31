"""The numbers for IT: bitrates each way, sizes, frame rates, loss, RTT, jitter, ladder step,
lip sync."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from app.media.ladder import LADDER
from app.media.stats import CallStats


def _kbps(bps: float | None) -> str:
    return "–" if bps is None else f"{bps / 1000:.0f} kbit/s"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _ms(s: float | None) -> str:
    return "–" if s is None else f"{1000 * s:.0f} ms"


def _s(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


class StatsPanel(QWidget):
    """A form that ``show_stats`` refreshes once a second."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.values: dict[str, QLabel] = {}
        for key, label in [
            ("send", self.tr("Sending")),
            ("recv", self.tr("Receiving")),
            ("send_video", self.tr("Video sent")),
            ("recv_video", self.tr("Video received")),
            ("loss", self.tr("Packet loss (out / in)")),
            ("rtt", self.tr("Round-trip time")),
            ("jitter", self.tr("Jitter")),
            ("queue", self.tr("Queue on the path (out / in)")),
            ("lipsync", self.tr("Lip sync (video after audio)")),
            ("rung", self.tr("Quality step")),
            ("estimate", self.tr("Bandwidth estimate")),
            ("session", self.tr("Connection number")),
        ]:
            value = QLabel("–")
            value.setObjectName(f"stat_{key}")
            self.values[key] = value
            form.addRow(label, value)

    def show_stats(self, s: CallStats) -> None:
        """Refresh from one snapshot."""
        v = self.values
        audio = self.tr("audio")  # lupdate does not look inside f-strings
        v["send"].setText(f"{_kbps(s.send_bps)} ({audio} {_kbps(s.send_audio_bps)})")
        v["recv"].setText(_kbps(s.recv_bps))
        v["send_video"].setText(f"{s.send_size[0]}×{s.send_size[1]} @ {s.send_fps:.0f} fps")
        v["recv_video"].setText(f"{s.recv_size[0]}×{s.recv_size[1]} @ {s.recv_fps:.0f} fps")
        v["loss"].setText(f"{_pct(s.loss_out)} / {_pct(s.loss_in)}")
        v["rtt"].setText(_ms(s.rtt_s))
        v["jitter"].setText(_ms(s.jitter_s))
        v["queue"].setText(f"{_ms(_s(s.queue_out_ms))} / {_ms(_s(s.queue_in_ms))}")
        skew = "–" if s.av_skew_s is None else f"{1000 * s.av_skew_s:+.0f} ms"
        v["lipsync"].setText(
            self.tr("{skew} (audio held {held})").format(skew=skew, held=_ms(s.audio_sync_delay_s))
        )
        names = [r.name for r in LADDER]
        step = f"{names.index(s.rung) + 1}/{len(names)} " if s.rung in names else ""
        v["rung"].setText(f"{step}{s.rung}" if s.rung else "–")
        v["estimate"].setText(_kbps(s.estimate_bps or None))
        v["session"].setText(str(s.session))
