"""The follow-up chart: one small panel per measure (blood pressure, glucose, SpO2, heart
rate, weight) over time, the reference range shaded, out-of-range points in red.

Painted with QPainter (PySide6-Essentials has no QtCharts); the data and the rules come from
:mod:`app.ui.workflow.chart_model`.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QCoreApplication, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.ui.workflow.chart_model import Panel

_LINE_COLOURS = {"bp_diastolic": QColor("#7b1fa2")}
_DEFAULT_LINE = QColor("#1565c0")
_OUT = QColor("#c62828")


def measure_title(key: str) -> str:
    """Translated title of a chart panel."""
    return {
        "bp": QCoreApplication.translate("VitalsChart", "Blood pressure (mmHg)"),
        "glucose": QCoreApplication.translate("VitalsChart", "Blood glucose (mmol/L)"),
        "spo2": QCoreApplication.translate("VitalsChart", "SpO2 (%)"),
        "heart_rate": QCoreApplication.translate("VitalsChart", "Heart rate (/min)"),
        "weight": QCoreApplication.translate("VitalsChart", "Weight (kg)"),
    }.get(key, key)


class VitalsChart(QWidget):
    """Stacked panels sharing one time axis."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panels: list[Panel] = []
        self.setMinimumHeight(320)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName(self.tr("Follow-up chart"))

    def set_panels(self, panels: list[Panel]) -> None:
        self.panels = [p for p in panels if not p.empty]
        self.update()

    def _time_range(self) -> tuple[datetime, datetime] | None:
        times = [pt.at for p in self.panels for line in p.lines for pt in line.points]
        if not times:
            return None
        lo, hi = min(times), max(times)
        if lo == hi:
            return lo.replace(hour=0, minute=0), hi.replace(hour=23, minute=59)
        return lo, hi

    def paintEvent(self, _event) -> None:  # noqa: ANN001, N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        span = self._time_range()
        if span is None:
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter,
                self.tr("No measurements yet: record vital signs or import a meter's CSV file."),
            )
            return
        metrics = painter.fontMetrics()
        left, right, title_h = metrics.horizontalAdvance("0000.0") + 10, 14, metrics.height() + 4
        axis_h = metrics.height() + 6
        height = (self.height() - axis_h) / len(self.panels)
        t0, t1 = span
        seconds = max((t1 - t0).total_seconds(), 1.0)
        plot_w = max(self.width() - left - right, 10)

        def x_of(at: datetime) -> float:
            return left + (at - t0).total_seconds() / seconds * plot_w

        for n, panel in enumerate(self.panels):
            top = n * height
            plot = QRectF(left, top + title_h, plot_w, height - title_h - 6)
            painter.setPen(self.palette().text().color())
            painter.drawText(QRectF(left, top, plot_w, title_h), measure_title(panel.measure.key))
            y0, y1 = panel.y_range()

            def y_of(v: float, plot: QRectF = plot, y0: float = y0, y1: float = y1) -> float:
                return plot.bottom() - (v - y0) / (y1 - y0) * plot.height()

            for line in panel.lines:  # reference band(s)
                if line.low is not None or line.high is not None:
                    lo = line.low if line.low is not None else y0
                    hi = line.high if line.high is not None else y1
                    band = QRectF(plot.left(), y_of(hi), plot.width(), y_of(lo) - y_of(hi))
                    painter.fillRect(band, QColor(46, 125, 50, 28))
            painter.setPen(QPen(QColor("#9e9e9e"), 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(plot)
            for v in (y0, y1):
                painter.drawText(
                    QRectF(0, y_of(v) - metrics.height() / 2, left - 4, metrics.height()),
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                    f"{v:.0f}" if abs(y1 - y0) > 20 else f"{v:.1f}",
                )
            for line in panel.lines:
                colour = _LINE_COLOURS.get(line.field, _DEFAULT_LINE)
                painter.setPen(QPen(colour, 2))
                pts = [QPointF(x_of(p.at), y_of(p.value)) for p in line.points]
                for a, b in zip(pts, pts[1:], strict=False):
                    painter.drawLine(a, b)
                for p, xy in zip(line.points, pts, strict=True):
                    painter.setBrush(_OUT if p.out_of_range else colour)
                    painter.setPen(QPen(_OUT if p.out_of_range else colour, 1))
                    radius = 5 if p.out_of_range else 3
                    painter.drawEllipse(xy, radius, radius)
        painter.setPen(self.palette().text().color())
        bottom = QRectF(left, self.height() - axis_h, plot_w, axis_h)
        painter.drawText(bottom, Qt.AlignmentFlag.AlignLeft, t0.strftime("%Y-%m-%d"))
        painter.drawText(bottom, Qt.AlignmentFlag.AlignRight, t1.strftime("%Y-%m-%d"))
        painter.end()
