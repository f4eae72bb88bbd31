"""Import a home meter's CSV export (blood pressure, glucose, SpO2, heart rate, weight).

Format (UTF-8, a BOM is fine; comma-, semicolon- or tab-separated; the first non-empty line
is the header, columns in any order, unknown columns ignored):

==================  ============================  =======================================
column              also accepted                 value
==================  ============================  =======================================
measured_at         测量时间, 时间, date, time     2026-11-20 08:30, 2026-11-20T08:30+08:00
                                                  or 2026/11/20 08:30 (required)
bp_systolic         收缩压, sys, systolic           mmHg, whole number 40–300
bp_diastolic        舒张压, dia, diastolic          mmHg, whole number 20–200
heart_rate          心率, 脉搏, pulse, hr           beats/min, 20–300
glucose             血糖, glu                      mmol/L, 0.5–60
spo2                血氧, 血氧饱和度, SpO2           %, 40–100
weight              体重                            kg, 1–400
temperature         体温, temp                      °C, 30–45
==================  ============================  =======================================

Every row needs a time and at least one measurement. A bad row is reported by its line
number (1 = the header line) with machine-readable problems; the good rows are kept.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from app.protocol.problems import Problem
from app.protocol.records import record_problems, validate_fields
from app.protocol.sync import DocType

COLUMNS: dict[str, tuple[str, ...]] = {
    "measured_at": ("测量时间", "时间", "date", "time", "datetime"),
    "bp_systolic": ("收缩压", "sys", "systolic", "高压"),
    "bp_diastolic": ("舒张压", "dia", "diastolic", "低压"),
    "heart_rate": ("心率", "脉搏", "pulse", "hr"),
    "glucose": ("血糖", "glu"),
    "spo2": ("血氧", "血氧饱和度", "spo2"),
    "weight": ("体重",),
    "temperature": ("体温", "temp"),
}
"""Our column → other names a meter may write (matched case-insensitively, units in
parentheses ignored: "收缩压(mmHg)" is bp_systolic)."""

MEASUREMENTS = tuple(c for c in COLUMNS if c != "measured_at")
_INTEGERS = {"bp_systolic", "bp_diastolic", "heart_rate", "spo2"}


def _column(name: str) -> str | None:
    key = name.strip().split("(")[0].split("（")[0].strip().lower()
    for column, aliases in COLUMNS.items():
        if key == column or key in (a.lower() for a in aliases):
            return column
    return None


def _time(raw: str) -> str:
    text = raw.strip().replace("/", "-")
    try:
        when = datetime.fromisoformat(text.replace(" ", "T", 1) if " " in text else text)
    except ValueError:
        raise ValueError("datetime_format") from None
    return when.isoformat(timespec="minutes")


def _number(column: str, raw: str) -> Any:
    text = raw.strip().replace(",", ".")
    value = float(text)
    if column in _INTEGERS:
        if value != int(value):
            raise ValueError("not_whole_number")
        return int(value)
    return value


def parse_meter_csv(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, Problem]]]:
    """(vitals rows ready for ``store.create(DocType.vitals, row, patient_id=…)``,
    [(line number, problem)] for every bad row or header)."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return [], [(1, Problem("", "required", {"what": "header"}))]
    sample = lines[first]
    delimiter = max((",", ";", "\t"), key=sample.count)
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    rows: list[dict[str, Any]] = []
    errors: list[tuple[int, Problem]] = []
    header: list[str | None] | None = None
    for line_no, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = [_column(c) for c in cells]
            if "measured_at" not in header:
                errors.append((line_no, Problem("measured_at", "required", {"what": "column"})))
                return [], errors
            if not any(c in header for c in MEASUREMENTS):
                errors.append((line_no, Problem("", "required", {"what": "measurement column"})))
                return [], errors
            continue
        row: dict[str, Any] = {"source": "meter_csv"}
        bad: list[Problem] = []
        for column, cell in zip(header, cells, strict=False):
            if column is None or not cell.strip():
                continue
            try:
                row[column] = _time(cell) if column == "measured_at" else _number(column, cell)
            except ValueError as exc:
                code = (
                    str(exc)
                    if str(exc) in ("datetime_format", "not_whole_number")
                    else ("not_a_number")
                )
                bad.append(Problem(column, code, {"value": cell.strip()[:40]}))
        if not bad:
            if "measured_at" not in row:
                bad.append(Problem("measured_at", "required"))
            if not any(c in row for c in MEASUREMENTS):
                bad.append(Problem("", "required", {"what": "measurement"}))
        if not bad:
            bad = record_problems(DocType.vitals, row)
        if bad:
            errors.extend((line_no, p) for p in bad)
        else:
            rows.append(validate_fields(DocType.vitals, row))
    if header is None:
        errors.append((1, Problem("", "required", {"what": "header"})))
    return rows, errors
