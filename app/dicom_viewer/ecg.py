"""12-lead ECG waveforms: a Qt-free model and a renderer drawing the standard paper grid
(25 mm/s, 10 mm/mV; 1 mm minor and 5 mm major squares) with lead labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import pydicom

from app.dicom_viewer.errors import DicomFileError

PAPER_SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0
STANDARD_ORDER = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_UNIT_TO_MV = {"uV": 1e-3, "mV": 1.0, "V": 1e3}


@dataclass
class Lead:
    label: str
    millivolts: np.ndarray  # samples in mV


@dataclass
class EcgRecording:
    leads: list[Lead]
    sampling_hz: float
    patient_name: str = ""
    patient_id: str = ""

    @property
    def duration_s(self) -> float:
        return len(self.leads[0].millivolts) / self.sampling_hz if self.leads else 0.0

    def lead(self, label: str) -> Lead | None:
        return next((lead for lead in self.leads if lead.label == label), None)


def _label(meaning: str) -> str:
    """'Lead I (Einthoven)' → 'I', 'Lead aVR' → 'aVR', 'Lead V1' → 'V1'."""
    text = meaning.replace("Lead", "").split("(")[0].strip()
    for std in STANDARD_ORDER:
        if text.upper() == std.upper():
            return std
    return text or meaning


def load_ecg(path: str | Path | BinaryIO, group: int = 0) -> EcgRecording:
    """Read a DICOM waveform (e.g. 12-lead ECG) into millivolt traces (a file or an open
    binary stream, such as a member of a zip)."""
    try:
        ds = pydicom.dcmread(path, force=True)
        seq = ds.WaveformSequence[group]
        data = ds.waveform_array(group)  # sensitivity and baseline applied
    except Exception as exc:  # noqa: BLE001
        raise DicomFileError(str(path), f"no readable waveform: {exc}") from exc
    leads = []
    for i, chan in enumerate(seq.ChannelDefinitionSequence):
        meaning = chan.ChannelSourceSequence[0].get("CodeMeaning", f"ch{i + 1}")
        unit = "uV"
        units = chan.get("ChannelSensitivityUnitsSequence")
        if units:
            unit = str(units[0].get("CodeValue", "uV"))
        leads.append(Lead(_label(str(meaning)), data[:, i] * _UNIT_TO_MV.get(unit, 1e-3)))
    from app.dicom_viewer.index import display_name

    return EcgRecording(
        leads,
        float(seq.SamplingFrequency),
        display_name(ds.get("PatientName")),
        str(ds.get("PatientID", "") or ""),
    )


def render_ecg(rec: EcgRecording, px_per_mm: float = 4.0, rhythm_lead: str = "II") -> np.ndarray:
    """Standard 3×4 layout (2.5 s per column) plus a full-length rhythm strip, as RGB."""
    seconds = min(rec.duration_s, 10.0)
    width_mm = seconds * PAPER_SPEED_MM_S + 10
    row_mm = 30.0  # ±1.5 mV per row
    rows = 4
    height_mm = rows * row_mm + 10
    w, h = int(width_mm * px_per_mm), int(height_mm * px_per_mm)
    img = np.full((h, w, 3), 255, np.uint8)
    for mm in range(int(width_mm) + 1):
        x = int(mm * px_per_mm)
        cv2.line(img, (x, 0), (x, h - 1), (200, 120, 120) if mm % 5 == 0 else (245, 200, 200), 1)
    for mm in range(int(height_mm) + 1):
        y = int(mm * px_per_mm)
        cv2.line(img, (0, y), (w - 1, y), (200, 120, 120) if mm % 5 == 0 else (245, 200, 200), 1)
    found = [rec.lead(lbl) for lbl in STANDARD_ORDER]
    ordered = [lead for lead in found if lead is not None] or rec.leads
    col_s = seconds / 4
    x0_mm = 10.0
    for idx, lead in enumerate(ordered[:12]):
        col, row = idx // 3, idx % 3
        start = col * col_s
        _trace(
            img,
            lead,
            rec.sampling_hz,
            start,
            col_s,
            x0_mm + start * PAPER_SPEED_MM_S,
            5 + row_mm * row + row_mm / 2,
            px_per_mm,
        )
    rhythm = rec.lead(rhythm_lead) or (rec.leads[0] if rec.leads else None)
    if rhythm is not None:
        _trace(
            img,
            rhythm,
            rec.sampling_hz,
            0,
            seconds,
            x0_mm,
            5 + row_mm * 3 + row_mm / 2,
            px_per_mm,
            label=f"{rhythm.label}",
        )
    _calibration_pulse(img, 2, 5 + row_mm * 3 + row_mm / 2, px_per_mm)
    return img


def _trace(
    img: np.ndarray,
    lead: Lead,
    hz: float,
    start_s: float,
    dur_s: float,
    x_mm: float,
    baseline_mm: float,
    px_per_mm: float,
    label: str | None = None,
) -> None:
    a, b = int(start_s * hz), int((start_s + dur_s) * hz)
    mv = lead.millivolts[a:b]
    if mv.size < 2:
        return
    t = np.arange(mv.size) / hz
    xs = (x_mm + t * PAPER_SPEED_MM_S) * px_per_mm
    ys = (baseline_mm - mv * GAIN_MM_MV) * px_per_mm
    pts = np.stack([xs, ys], axis=1).round().astype(np.int32)
    cv2.polylines(img, [pts], False, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(
        img,
        label or lead.label,
        (int(x_mm * px_per_mm) + 4, int((baseline_mm - 10) * px_per_mm)),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.45 * px_per_mm / 4,
        (0, 0, 160),
        1,
        cv2.LINE_AA,
    )


def _calibration_pulse(img: np.ndarray, x_mm: float, baseline_mm: float, px_per_mm: float) -> None:
    """The 1 mV, 200 ms reference pulse (10 mm tall, 5 mm wide)."""
    pts = (
        np.array(
            [
                [x_mm, baseline_mm],
                [x_mm + 1, baseline_mm],
                [x_mm + 1, baseline_mm - 10],
                [x_mm + 6, baseline_mm - 10],
                [x_mm + 6, baseline_mm],
                [x_mm + 7, baseline_mm],
            ]
        )
        * px_per_mm
    )
    cv2.polylines(img, [pts.round().astype(np.int32)], False, (0, 0, 0), 1, cv2.LINE_AA)
