"""Each record in a patient's history in words: its own title, date, labels and units in the
user's language — never ``bp_systolic=150``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QCoreApplication, QDate, QDateTime, QLocale, QTime, QTimeZone

from app.ui.workflow.chart_model import parse_time
from app.ui.workflow.labels import (
    attachment_kind_text,
    field_label,
    referral_text,
    status_text,
    type_text,
    urgency_text,
)


@dataclass
class RecordText:
    title: str
    when: str
    lines: list[str]

    def one_line(self) -> str:
        body = "；".join(self.lines[:3]) if self.lines else ""
        return f"{self.when} · {self.title}" + (f" · {body}" if body else "")


def _qdate(at: datetime) -> QDate:
    return QDate(at.year, at.month, at.day)


def _qtime(at: datetime) -> QTime:
    return QTime(at.hour, at.minute, at.second, at.microsecond // 1000)


def date_text(value: Any, with_time: bool = True) -> str:
    """A date (and time) in the user's locale; empty when unknown."""
    at = parse_time(value)
    if at is None:
        return ""
    locale = QLocale()
    qdt = QDateTime(_qdate(at), _qtime(at))
    if with_time and (at.hour or at.minute):
        return locale.toString(qdt, QLocale.FormatType.ShortFormat)
    return locale.toString(qdt.date(), QLocale.FormatType.ShortFormat)


def utc_date_text(value: Any) -> str:
    """An ISO date-time stored in UTC, shown in local time."""
    at = parse_time(value)
    if at is None:
        return ""
    text = str(value)
    qdt = QDateTime(_qdate(at), _qtime(at), QTimeZone.utc())
    if not ("+" in text[10:] or text.endswith("Z")):
        qdt = QDateTime(_qdate(at), _qtime(at))
    return QLocale().toString(qdt.toLocalTime(), QLocale.FormatType.ShortFormat)


VITAL_UNITS = {
    "bp": "mmHg",
    "heart_rate": "/min",
    "spo2": "%",
    "glucose": "mmol/L",
    "temperature": "°C",
    "weight": "kg",
}


def vitals_lines(v: dict[str, Any]) -> list[str]:
    """Blood pressure as 150/92 mmHg, each other sign with its label and unit."""
    lines = []
    sys_, dia = v.get("bp_systolic"), v.get("bp_diastolic")
    if sys_ is not None or dia is not None:
        lines.append(
            QCoreApplication.translate("RecordText", "Blood pressure {s}/{d} mmHg").format(
                s=sys_ if sys_ is not None else "–", d=dia if dia is not None else "–"
            )
        )
    named = {
        "heart_rate": QCoreApplication.translate("RecordText", "Heart rate {v} /min"),
        "spo2": QCoreApplication.translate("RecordText", "SpO2 {v} %"),
        "glucose": QCoreApplication.translate("RecordText", "Blood glucose {v} mmol/L"),
        "temperature": QCoreApplication.translate("RecordText", "Temperature {v} °C"),
        "weight": QCoreApplication.translate("RecordText", "Weight {v} kg"),
    }
    for key, pattern in named.items():
        if v.get(key) not in (None, ""):
            lines.append(pattern.format(v=v[key]))
    return lines


def describe(doc_type: str, fields: dict[str, Any], updated_at: str = "") -> RecordText:
    """The record as a title, a date and readable lines."""
    f = fields
    if doc_type == "vitals":
        title = QCoreApplication.translate("RecordText", "Vital signs")
        if f.get("source") == "meter_csv":
            title = QCoreApplication.translate("RecordText", "Vital signs (home meter)")
        elif f.get("source") == "visit":
            title = QCoreApplication.translate("RecordText", "Follow-up visit")
        return RecordText(title, date_text(f.get("measured_at") or updated_at), vitals_lines(f))
    if doc_type == "consultation":
        lines = [
            type_text(str(f.get("consultation_type", "video"))),
            status_text(str(f.get("status", "draft"))),
            urgency_text(str(f.get("urgency", "routine"))),
        ]
        for key in ("purpose", "reason", "diagnosis_name"):
            if f.get(key):
                lines.append(f"{field_label(key)}：{str(f[key])[:80]}")
        return RecordText(
            QCoreApplication.translate("RecordText", "Consultation request"),
            date_text(updated_at),
            lines,
        )
    if doc_type == "report":
        title = QCoreApplication.translate("RecordText", "Consultation report")
        if int(f.get("version", 1) or 1) > 1:
            title = QCoreApplication.translate(
                "RecordText", "Consultation report, amendment {n}"
            ).format(n=int(f["version"]) - 1)
        lines = []
        diag = " ".join(x for x in (f.get("diagnosis_code", ""), f.get("diagnosis_name", "")) if x)
        if diag:
            lines.append(f"{field_label('diagnosis_name')}：{diag}")
        if f.get("opinion") or f.get("text"):
            lines.append(f"{field_label('opinion')}：{str(f.get('opinion') or f['text'])[:120]}")
        referral = (f.get("referral") or {}).get("kind", "none")
        if referral != "none":
            lines.append(referral_text(referral))
        signer = f.get("signer") or {}
        if f.get("signed"):
            lines.append(
                QCoreApplication.translate("RecordText", "Signed by {name} on {when}").format(
                    name=signer.get("name", ""), when=utc_date_text(f.get("signed_at"))
                )
            )
        else:
            lines.append(QCoreApplication.translate("RecordText", "Not signed yet"))
        return RecordText(title, date_text(f.get("signed_at") or updated_at), lines)
    if doc_type == "note":
        return RecordText(
            QCoreApplication.translate("RecordText", "Clinical note"),
            date_text(updated_at),
            [str(f.get("text", ""))],
        )
    if doc_type == "attachment":
        return RecordText(
            attachment_kind_text(str(f.get("kind", "file"))),
            date_text(updated_at),
            [str(f.get("name") or f.get("title") or "")],
        )
    if doc_type == "annotation_set":
        n = len(f.get("annotations") or [])
        return RecordText(
            QCoreApplication.translate("RecordText", "Image annotations"),
            date_text(updated_at),
            [QCoreApplication.translate("RecordText", "{n} annotation(s)").format(n=n)],
        )
    if doc_type == "patient":
        return RecordText(
            QCoreApplication.translate("RecordText", "Registration"),
            date_text(updated_at),
            [str(f.get("name", ""))],
        )
    lines = [f"{field_label(k)}：{v}" for k, v in f.items() if v not in (None, "", [], {})]
    return RecordText(
        QCoreApplication.translate("RecordText", "Record"), date_text(updated_at), lines
    )
