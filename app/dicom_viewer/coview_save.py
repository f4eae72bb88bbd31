"""Saving a co-viewing session: a presentation state per image set and a TID 1500 measurement
report (Comprehensive SR, highdicom), both UTF-8 (ISO_IR 192), both referencing exactly the
images the marks were drawn on.

Measurements are computed here from the shared points and each image's own calibration (the
same functions the viewer shows them with), so the report carries the numbers both doctors saw.
Uncalibrated images are measured in pixels and say so (unit ``{pixel}``).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from app.dicom_viewer import measurements as m
from app.dicom_viewer.annotations import CLOSED_KINDS, Annotation
from app.dicom_viewer.calibration import calibration_for
from app.dicom_viewer.frames import frame_header
from app.dicom_viewer.gsps import write_gsps
from app.dicom_viewer.view_state import ViewState

COMPREHENSIVE_SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.33"
_MM = hd.sr.CodedConcept("mm", "UCUM", "millimeter")
_MM2 = hd.sr.CodedConcept("mm2", "UCUM", "square millimeter")
_PX = hd.sr.CodedConcept("{pixel}", "UCUM", "pixel")
_PX2 = hd.sr.CodedConcept("{pixel2}", "UCUM", "square pixel")
_HU = hd.sr.CodedConcept("[hnsf'U]", "UCUM", "Hounsfield unit")
_NO_UNIT = hd.sr.CodedConcept("1", "UCUM", "no units")
_LENGTH = hd.sr.CodedConcept("410668003", "SCT", "Length")
_AREA = hd.sr.CodedConcept("42798000", "SCT", "Area")
_MEAN = hd.sr.CodedConcept("373098007", "SCT", "Mean")
_SD = hd.sr.CodedConcept("386136009", "SCT", "Standard Deviation")
_MIN = hd.sr.CodedConcept("255605001", "SCT", "Minimum")
_MAX = hd.sr.CodedConcept("56851009", "SCT", "Maximum")
_ANGLE = hd.sr.CodedConcept("1483009", "SCT", "Angle")
_DEG = hd.sr.CodedConcept("deg", "UCUM", "degree")
# Free-text labels (arrows, text marks) as the group's Finding: TID 1500 has no text row, and
# this is the convention OHIF/cornerstone write and read back as the label of an arrow.
FREE_TEXT_SCHEME = "CORNERSTONEJS"
FREE_TEXT_CODE = "CORNERSTONEFREETEXT"
_ARROW_FINDING = hd.sr.CodedConcept("111030", "DCM", "Image Region")
# Marks written as regions with a label, without a number.
LABEL_KINDS = ("arrow", "text")


@dataclass
class SavedMeasurement:
    """One number in the report (also what a reader gets back)."""

    annotation_id: str
    sop_instance_uid: str
    name: str  # "length" | "angle" | "area" | "mean" | "sd" | "min" | "max"
    value: float
    unit: str


@dataclass
class SavedSession:
    presentation_states: list[Path] = field(default_factory=list)
    report: Path | None = None
    measurements: list[SavedMeasurement] = field(default_factory=list)


def session_measurements(
    annotations: list[Annotation],
    images: Mapping[str, Dataset],
    values_of: Callable[[Dataset, int], np.ndarray | None],
) -> list[SavedMeasurement]:
    """Lengths, areas and ROI statistics of ``annotations`` on ``images`` (by SOP UID)."""
    out: list[SavedMeasurement] = []
    for ann in annotations:
        ds = images.get(ann.sop_instance_uid)
        if ds is None:
            continue
        cal = calibration_for(frame_header(ds, ann.frame))
        lu, au = ("mm", "mm2") if cal.calibrated else ("{pixel}", "{pixel2}")
        if ann.kind == "length" and len(ann.points) >= 2:
            value = m.length(ann.points[0], ann.points[1], cal)
            out.append(SavedMeasurement(ann.id, ann.sop_instance_uid, "length", value, lu))
        elif ann.kind == "angle" and len(ann.points) >= 3:
            value = m.angle(ann.points[0], ann.points[1], ann.points[2], cal)
            out.append(SavedMeasurement(ann.id, ann.sop_instance_uid, "angle", value, "deg"))
        elif ann.kind in CLOSED_KINDS and len(ann.points) >= 2:
            if ann.kind == "ellipse":
                area = m.ellipse_area(ann.points[0], ann.points[1], cal)
            else:
                area = m.polygon_area(ann.outline()[:-1], cal)
            out.append(SavedMeasurement(ann.id, ann.sop_instance_uid, "area", area, au))
            values = values_of(ds, ann.frame)
            if values is not None:
                stats = m.roi_stats(values, m.region_mask(ann.kind, ann.points, values.shape[:2]))
                if stats is not None:
                    unit = "[hnsf'U]" if str(ds.get("Modality", "")) == "CT" else "1"
                    for name, value in (
                        ("mean", stats.mean),
                        ("sd", stats.sd),
                        ("min", stats.minimum),
                        ("max", stats.maximum),
                    ):
                        out.append(
                            SavedMeasurement(ann.id, ann.sop_instance_uid, name, value, unit)
                        )
    return out


def save_session(
    out_dir: Path,
    annotations: list[Annotation],
    images: Mapping[str, Dataset],
    values_of: Callable[[Dataset, int], np.ndarray | None],
    author: str,
    states: dict[str, ViewState] | None = None,
) -> SavedSession:
    """Write one GSPS per series drawn on and one measurement report; return what was written.

    ``images``: the DICOM datasets by SOP Instance UID (headers suffice for the GSPS);
    ``values_of(ds, frame)``: modality values of a frame for ROI statistics (None: none);
    ``states``: the view state to store per series (default: the image's own window).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = SavedSession()
    drawn = [a for a in annotations if a.sop_instance_uid in images and a.kind != "calibration"]
    by_series: dict[str, list[Annotation]] = defaultdict(list)
    for ann in drawn:
        by_series[str(images[ann.sop_instance_uid].SeriesInstanceUID)].append(ann)
    for n, (series_uid, anns) in enumerate(sorted(by_series.items()), start=1):
        sops = list(dict.fromkeys(a.sop_instance_uid for a in anns))
        path = out_dir / f"coview-ps-{n}.dcm"
        write_gsps(
            path,
            [images[s] for s in sops],
            (states or {}).get(series_uid, ViewState()),
            anns,
            author,
            label="COVIEW",
            description="YiQiao co-viewing",
        )
        saved.presentation_states.append(path)
    saved.measurements = session_measurements(drawn, images, values_of)
    if saved.measurements or any(a.kind in LABEL_KINDS and a.points for a in drawn):
        saved.report = out_dir / "coview-measurements.dcm"
        write_measurement_report(saved.report, drawn, images, saved.measurements, author)
    return saved


def _unit(code: str) -> hd.sr.CodedConcept:
    units = {"mm": _MM, "mm2": _MM2, "{pixel}": _PX, "{pixel2}": _PX2, "[hnsf'U]": _HU}
    return {**units, "deg": _DEG}.get(code, _NO_UNIT)


_NAMES = {
    "length": _LENGTH,
    "angle": _ANGLE,
    "area": _AREA,
    "mean": _MEAN,
    "sd": _SD,
    "min": _MIN,
    "max": _MAX,
}


def _label(ann: Annotation) -> hd.sr.CodedConcept | None:
    """The mark's text as a Finding (Code Meaning holds at most 64 characters)."""
    text = " ".join(ann.text.split())[:64]
    if not text:
        return _ARROW_FINDING if ann.kind == "arrow" else None
    return hd.sr.CodedConcept(FREE_TEXT_CODE, FREE_TEXT_SCHEME, text)


def _region(ann: Annotation, source: hd.sr.SourceImageForRegion) -> hd.sr.ImageRegion:
    if ann.kind == "ellipse":
        (x1, y1), (x2, y2) = ann.points[0], ann.points[1]
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        pts = [(x1, cy), (x2, cy), (cx, y1), (cx, y2)]  # major axis, then minor (C.18.6.1.2)
        if abs(y2 - y1) > abs(x2 - x1):
            pts = [(cx, y1), (cx, y2), (x1, cy), (x2, cy)]
        return hd.sr.ImageRegion(hd.sr.GraphicTypeValues.ELLIPSE, np.array(pts), source)
    return hd.sr.ImageRegion(
        hd.sr.GraphicTypeValues.POLYLINE, np.array(ann.outline(), dtype=float), source
    )


def write_measurement_report(
    path: Path,
    annotations: list[Annotation],
    images: Mapping[str, Dataset],
    measurements: list[SavedMeasurement],
    author: str,
) -> Dataset:
    """A TID 1500 Comprehensive SR with one measurement group per length or ROI."""
    by_ann: dict[str, list[SavedMeasurement]] = defaultdict(list)
    for item in measurements:
        by_ann[item.annotation_id].append(item)
    groups: list = []
    reported = [a for a in annotations if a.id in by_ann or (a.kind in LABEL_KINDS and a.points)]
    for number, ann in enumerate(reported, start=1):
        ds = images[ann.sop_instance_uid]
        frames = [ann.frame + 1] if int(ds.get("NumberOfFrames", 1) or 1) > 1 else None
        tracking = hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{ann.kind} {number}")
        if ann.kind in LABEL_KINDS:
            # An arrow is its shaft (tail → tip), a text mark its anchor point; the label
            # rides as the Finding.
            source = hd.sr.SourceImageForRegion.from_source_image(
                ds, referenced_frame_numbers=frames
            )
            shape = (
                (hd.sr.GraphicTypeValues.POLYLINE, ann.points[:2])
                if ann.kind == "arrow" and len(ann.points) >= 2
                else (hd.sr.GraphicTypeValues.POINT, ann.points[:1])
            )
            groups.append(
                hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=tracking,
                    referenced_region=hd.sr.ImageRegion(
                        shape[0], np.array(shape[1], dtype=float), source
                    ),
                    finding_type=_label(ann),
                )
            )
            continue
        items = [
            hd.sr.Measurement(name=_NAMES[x.name], value=x.value, unit=_unit(x.unit))
            for x in by_ann[ann.id]
        ]
        if ann.kind in ("length", "angle"):
            coords = hd.sr.CoordinatesForMeasurement(
                hd.sr.GraphicTypeValues.POLYLINE,
                np.array(ann.points[: 2 if ann.kind == "length" else 3], dtype=float),
                hd.sr.SourceImageForRegion.from_source_image(ds, referenced_frame_numbers=frames),
            )
            items = [
                hd.sr.Measurement(
                    name=_NAMES[x.name],
                    value=x.value,
                    unit=_unit(x.unit),
                    referenced_coordinates=[coords],
                )
                for x in by_ann[ann.id]
            ]
            groups.append(
                hd.sr.MeasurementsAndQualitativeEvaluations(
                    tracking_identifier=tracking,
                    source_images=[
                        hd.sr.SourceImageForMeasurementGroup.from_source_image(
                            ds, referenced_frame_numbers=frames
                        )
                    ],
                    measurements=items,
                )
            )
        else:
            source = hd.sr.SourceImageForRegion.from_source_image(
                ds, referenced_frame_numbers=frames
            )
            groups.append(
                hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=tracking,
                    referenced_region=_region(ann, source),
                    measurements=items,
                )
            )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=_person(author)
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion
        if str(next(iter(images.values())).get("Modality", "")) == "CT"
        else hd.sr.CodedConcept("P5-09051", "SRT", "Imaging procedure"),
        imaging_measurements=groups,
        title=codes.DCM.ImagingMeasurementReport,
    )
    referenced = [images[s] for s in dict.fromkeys(a.sop_instance_uid for a in annotations)]
    first = referenced[0]
    from app import __version__

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sr = hd.sr.ComprehensiveSR(
            evidence=referenced,
            content=report,
            series_instance_uid=hd.UID(),
            series_number=9902,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="YiQiao",
            series_description="YiQiao co-viewing measurements",
            institution_name=first.get("InstitutionName") or None,
        )
    sr.SpecificCharacterSet = "ISO_IR 192"
    sr.SoftwareVersions = __version__
    sr.save_as(str(path), enforce_file_format=True)
    return sr


def _person(author: str) -> str:
    # A free-form user name is one component; the trailing caret says so (PS3.5 6.2.1.2).
    name = author.strip() or "YiQiao user"
    return name if "^" in name else name + "^"


def read_measurement_report(path: Path) -> list[tuple[str, float, str]]:
    """(concept meaning, value, unit code) of every measurement in a TID 1500 report."""
    sr = hd.sr.srread(str(path))
    out: list[tuple[str, float, str]] = []
    content: Any = sr.content  # highdicom's ContentSequence of a TID 1500 report
    groups = list(content.get_planar_roi_measurement_groups()) + list(
        content.get_image_measurement_groups()
    )
    for group in groups:
        for item in group.get_measurements():
            out.append((item.name.meaning, float(item.value), item.unit.value))
    return out


def read_report_labels(path: Path) -> list[tuple[str, str]]:
    """(graphic type, label) of every arrow and text mark in a report written here."""
    sr = hd.sr.srread(str(path))
    content: Any = sr.content
    out: list[tuple[str, str]] = []
    for group in content.get_planar_roi_measurement_groups():
        finding = group.finding_type
        if group.get_measurements() or finding is None:
            continue
        label = finding.meaning if finding.scheme_designator == FREE_TEXT_SCHEME else ""
        out.append((group.roi.graphic_type.value, label))
    return out
