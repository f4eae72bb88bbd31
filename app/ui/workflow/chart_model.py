"""The chronic-disease follow-up chart's data: one series per measure over time, with its
reference range and the points outside it. Qt-free; the widget only paints what this says.

Reference ranges (adults), as used in China's primary-care hypertension and diabetes
follow-up (国家基层高血压/糖尿病防治管理指南): blood pressure below 140/90 mmHg; fasting
glucose 3.9–6.1 mmol/L; SpO2 at least 95 %; resting heart rate 60–100 /min. Weight has no
range of its own (it is followed for its trend).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Measure:
    """One chartable measure: record field(s), unit, reference range."""

    key: str
    fields: tuple[str, ...]
    unit: str
    low: float | None
    high: float | None


MEASURES: tuple[Measure, ...] = (
    Measure("bp", ("bp_systolic", "bp_diastolic"), "mmHg", None, None),
    Measure("glucose", ("glucose",), "mmol/L", 3.9, 6.1),
    Measure("spo2", ("spo2",), "%", 95, 100),
    Measure("heart_rate", ("heart_rate",), "/min", 60, 100),
    Measure("weight", ("weight",), "kg", None, None),
)
# Blood pressure has one range per line.
BP_RANGES = {"bp_systolic": (90.0, 139.0), "bp_diastolic": (60.0, 89.0)}


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float
    out_of_range: bool
    source: str  # "vitals", "consultation", "follow_up", "import"


@dataclass
class Line:
    field: str
    low: float | None
    high: float | None
    # dataclasses.field: in this class body ``field`` names the attribute above.
    points: list[Point] = dataclasses.field(default_factory=list)


@dataclass
class Panel:
    """One measure's chart: its lines (two for blood pressure) and the y range to draw."""

    measure: Measure
    lines: list[Line]

    @property
    def empty(self) -> bool:
        return not any(line.points for line in self.lines)

    def y_range(self) -> tuple[float, float]:
        """Values and reference limits, with a little room above and below."""
        values = [p.value for line in self.lines for p in line.points]
        for line in self.lines:
            values += [v for v in (line.low, line.high) if v is not None]
        if not values:
            return 0.0, 1.0
        lo, hi = min(values), max(values)
        pad = max((hi - lo) * 0.1, 1.0)
        return lo - pad, hi + pad

    def out_of_range(self) -> list[Point]:
        return [p for line in self.lines for p in line.points if p.out_of_range]


def parse_time(value: Any) -> datetime | None:
    """An ISO date or date-time (None when missing or malformed)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        try:
            return datetime.combine(date.fromisoformat(text[:10]), datetime.min.time())
        except ValueError:
            return None


def _range(measure: Measure, name: str) -> tuple[float | None, float | None]:
    if name in BP_RANGES:
        return BP_RANGES[name]
    return measure.low, measure.high


def build_panels(samples: Iterable[tuple[Any, dict[str, Any], str]]) -> list[Panel]:
    """Panels from ``(time, values, source)`` samples (vitals records, a request's current
    vitals, follow-up visits, imported meter rows); samples without a usable time are left
    out, values that are not numbers too."""
    ordered = []
    for when, values, source in samples:
        at = parse_time(when)
        if at is not None:
            ordered.append((at, values, source))
    ordered.sort(key=lambda s: s[0])
    panels = []
    for measure in MEASURES:
        lines = []
        for name in measure.fields:
            low, high = _range(measure, name)
            line = Line(name, low, high)
            for at, values, source in ordered:
                raw = values.get(name)
                if raw in (None, "") or isinstance(raw, bool):
                    continue
                try:
                    value = float(raw)
                except (TypeError, ValueError):
                    continue
                out = (low is not None and value < low) or (high is not None and value > high)
                line.points.append(Point(at, value, out, source))
            lines.append(line)
        panels.append(Panel(measure, lines))
    return panels
