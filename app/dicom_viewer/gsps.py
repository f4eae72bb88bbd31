"""Saving and opening annotations as a Grayscale Softcopy Presentation State (highdicom).

Standard content, readable by other viewers: referenced images, VOI window, displayed area,
rotation/flip, graphic annotations (POLYLINE, closed for ROIs) and text objects, all in UTF-8
(ISO_IR 192) so Chinese text survives. Like Weasis, an exact copy of our own model (viewer
state and annotation records with authors) is kept in a private block, so a round trip in
YiQiao is lossless; other GSPS files are read from their standard content.
"""

from __future__ import annotations

import json
import pkgutil
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset

from app.dicom_viewer.annotations import CLOSED_KINDS, Annotation, describe
from app.dicom_viewer.calibration import calibration_for
from app.dicom_viewer.errors import DicomFileError
from app.dicom_viewer.frames import frame_header
from app.dicom_viewer.pipeline import Window
from app.dicom_viewer.shutters import Shutter
from app.dicom_viewer.view_state import ViewState, standard_rotation

PRIVATE_GROUP = 0x0071
PRIVATE_CREATOR = "YIQIAO VIEWER 1"
_LAYER = "YIQIAO"
GSPS_CLASS = "1.2.840.10008.5.1.4.1.1.11.1"
CSPS_CLASS = "1.2.840.10008.5.1.4.1.1.11.2"


@dataclass
class GspsContent:
    """What an opened presentation state tells the viewer."""

    referenced_sop_uids: list[str]
    state: ViewState
    annotations: list[Annotation] = field(default_factory=list)
    displayed_area: tuple[int, int, int, int] | None = None  # TLHC x, y, BRHC x, y (1-based)
    inverse: bool = False
    author: str = ""
    label: str = ""
    viewport: tuple[int, int] | None = None  # the saving viewer's viewport (our files only)
    shutter: Shutter | None = None  # display shutter (rectangular/circular/polygonal)


def _annotation_objects(ann: Annotation, header: Dataset) -> tuple[list, list]:
    """highdicom graphic and text objects for one annotation."""
    graphics: list[hd.pr.GraphicObject] = []
    texts: list[hd.pr.TextObject] = []
    units = hd.pr.AnnotationUnitsValues.PIXEL
    outline = ann.outline()
    if ann.kind != "text" and len(outline) >= 2:
        graphics.append(
            hd.pr.GraphicObject(
                hd.pr.GraphicTypeValues.POLYLINE,
                np.array(outline, dtype=float),
                units,
                tracking_id=ann.id,
                tracking_uid=hd.UID(),
            )
        )
    if ann.kind == "arrow" and len(ann.points) >= 2:
        graphics.extend(_arrow_head(ann, units))
    label = (
        ann.text
        if ann.kind in ("text", "arrow")
        else describe(ann, calibration_for(frame_header(header, ann.frame)))
    )
    if ann.kind in CLOSED_KINDS and ann.text:
        label = f"{ann.text}\n{label}"
    if label:
        x, y = ann.points[-1] if ann.kind != "text" else ann.points[0]
        texts.append(
            hd.pr.TextObject(
                label[:64] if ann.kind != "text" else label,
                units,
                anchor_point=(float(x), float(y)),
                anchor_point_visible=ann.kind != "text",
            )
        )
    return graphics, texts


def _arrow_head(ann: Annotation, units: hd.pr.AnnotationUnitsValues) -> list:
    (x0, y0), (x1, y1) = ann.points[0], ann.points[1]
    v = np.array([x0 - x1, y0 - y1], float)
    n = np.linalg.norm(v)
    if n == 0:
        return []
    v = v / n * min(10.0, n / 3)
    rot = np.array([[np.cos(0.4), -np.sin(0.4)], [np.sin(0.4), np.cos(0.4)]])
    a, b = rot @ v, rot.T @ v
    pts = np.array([[x1 + a[0], y1 + a[1]], [x1, y1], [x1 + b[0], y1 + b[1]]])
    return [hd.pr.GraphicObject(hd.pr.GraphicTypeValues.POLYLINE, pts, units)]


def write_gsps(
    out_path: str | Path,
    referenced: list[Dataset],
    state: ViewState,
    annotations: list[Annotation],
    author: str,
    displayed_area: tuple[int, int, int, int] | None = None,
    label: str = "YIQIAO",
    description: str = "",
    viewport: tuple[int, int] | None = None,
    shutter: Shutter | None = None,
) -> Dataset:
    """Write a GSPS for ``referenced`` image headers; returns the dataset written."""
    if not referenced:
        raise ValueError("a presentation state needs at least one referenced image")
    colour = int(referenced[0].get("SamplesPerPixel", 1)) > 1
    # One presentation state holds one kind: a Color Softcopy PS for RGB/YBR images (e.g.
    # ultrasound), a Grayscale Softcopy PS otherwise.
    gray = [ds for ds in referenced if (int(ds.get("SamplesPerPixel", 1)) > 1) == colour]
    by_sop = {str(ds.SOPInstanceUID): ds for ds in gray}
    layer = hd.pr.GraphicLayer(layer_name=_LAYER, order=1, description="YiQiao annotations")
    groups: dict[tuple[str, int], list[Annotation]] = defaultdict(list)
    for ann in annotations:
        if ann.sop_instance_uid in by_sop and ann.kind != "calibration":
            groups[(ann.sop_instance_uid, ann.frame)].append(ann)
    graphic_annotations = []
    for (sop, frame), anns in groups.items():
        header = by_sop[sop]
        graphics, texts = [], []
        for ann in anns:
            g, t = _annotation_objects(ann, header)
            graphics += g
            texts += t
        multi = int(header.get("NumberOfFrames", 1) or 1) > 1
        graphic_annotations.append(
            hd.pr.GraphicAnnotation(
                referenced_images=[header],
                graphic_layer=layer,
                referenced_frame_number=frame + 1 if multi else None,
                graphic_objects=graphics or None,
                text_objects=texts or None,
            )
        )
    window = state.window
    if window is None:
        from app.dicom_viewer.render import default_window

        window = default_window(frame_header(gray[0], 0))
    voi = []
    if window is not None:
        function = (
            window.function
            if window.function in ("LINEAR", "LINEAR_EXACT", "SIGMOID")
            else "LINEAR"
        )
        voi = [
            hd.pr.SoftcopyVOILUTTransformation(
                window_center=window.center, window_width=window.width, voi_lut_function=function
            )
        ]
    presentation_lut = hd.PresentationLUTTransformation(
        presentation_lut_shape="INVERSE" if state.invert else "IDENTITY"
    )
    first = gray[0]
    with warnings.catch_warnings():
        # highdicom warns about single-component person names; free-form authors are fine.
        warnings.simplefilter("ignore", UserWarning)
        gsps: Dataset
        if colour:
            gsps = _build_colour(gray, label, description, graphic_annotations, layer, author)
        else:
            gsps = _build(
                gray,
                label,
                description,
                graphic_annotations,
                layer,
                author,
                voi,
                presentation_lut,
                first,
            )
    gsps.SpecificCharacterSet = "ISO_IR 192"
    _set_spatial(gsps, first, state, displayed_area)
    if shutter is not None:
        shutter.write_to(gsps, colour=colour)
    block = gsps.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(
        0x10,
        "UT",
        json.dumps(
            {
                "state": state.to_dict(),
                "annotations": [a.to_dict() for a in annotations],
                "author": author,
                "viewport": list(viewport) if viewport else None,
                "shutter": shutter.to_dict() if shutter else None,
            }
        ),
    )  # ASCII-escaped JSON
    gsps.PresentationCreationDate = datetime.now().strftime("%Y%m%d")
    gsps.save_as(str(out_path), enforce_file_format=True)
    return gsps


def _common(
    images: list[Dataset],
    label: str,
    description: str,
    graphic_annotations: list,
    layer: hd.pr.GraphicLayer,
    author: str,
) -> dict:
    """What every presentation state we write carries, grayscale or colour."""
    from app import __version__

    return dict(
        referenced_images=images,
        series_instance_uid=hd.UID(),
        series_number=9901,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="YiQiao",
        manufacturer_model_name="YiQiao viewer",
        software_versions=__version__,
        device_serial_number="0",
        content_label=label,
        content_description=description or None,
        graphic_annotations=graphic_annotations or None,
        graphic_layers=[layer] if graphic_annotations else None,
        content_creator_name=_person_name(author),
    )


def _build(
    gray: list[Dataset],
    label: str,
    description: str,
    graphic_annotations: list,
    layer: hd.pr.GraphicLayer,
    author: str,
    voi: list,
    presentation_lut: hd.PresentationLUTTransformation,
    first: Dataset,
) -> hd.pr.GrayscaleSoftcopyPresentationState:
    return hd.pr.GrayscaleSoftcopyPresentationState(
        **_common(gray, label, description, graphic_annotations, layer, author),
        voi_lut_transformations=voi or None,
        presentation_lut_transformation=presentation_lut,
        specific_character_set="ISO_IR 192",
        modality_lut_transformation=_modality_lut(first),
    )


def _build_colour(
    images: list[Dataset],
    label: str,
    description: str,
    graphic_annotations: list,
    layer: hd.pr.GraphicLayer,
    author: str,
) -> hd.pr.ColorSoftcopyPresentationState:
    return hd.pr.ColorSoftcopyPresentationState(
        **_common(images, label, description, graphic_annotations, layer, author),
        specific_character_set="ISO_IR 192",
        icc_profile=_icc_profile(images),
    )


def _icc_profile(images: list[Dataset]) -> bytes | None:
    """The images' own ICC profile, else sRGB (what an unlabelled RGB image means)."""
    for ds in images:
        if "ICCProfile" in ds:
            return None  # highdicom takes it from the images
    return pkgutil.get_data("highdicom", "_icc_profiles/sRGB_v4_ICC_preference.icc")


def _person_name(author: str) -> str:
    # PN components are separated by ^; a free-form author name must not contain it.
    return (author or "unknown").replace("^", " ")[:64]


def _modality_lut(ds: Dataset) -> hd.ModalityLUTTransformation | None:
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        return hd.ModalityLUTTransformation(
            rescale_intercept=float(ds.get("RescaleIntercept", 0) or 0),
            rescale_slope=float(ds.get("RescaleSlope", 1) or 1),
            rescale_type=str(
                ds.get("RescaleType", "") or ("HU" if ds.get("Modality") == "CT" else "US")
            ),
        )
    return None


def _set_spatial(
    gsps: Dataset, image: Dataset, state: ViewState, area: tuple[int, int, int, int] | None
) -> None:
    cols, rows = int(image.Columns), int(image.Rows)
    item = gsps.DisplayedAreaSelectionSequence[0]
    if area is not None:
        x0, y0, x1, y1 = area
        x0, x1 = sorted((max(-cols, min(2 * cols, int(x0))), max(-cols, min(2 * cols, int(x1)))))
        y0, y1 = sorted((max(-rows, min(2 * rows, int(y0))), max(-rows, min(2 * rows, int(y1)))))
        item.DisplayedAreaTopLeftHandCorner = [x0, y0]
        item.DisplayedAreaBottomRightHandCorner = [max(x1, x0 + 1), max(y1, y0 + 1)]
    if "PixelOriginInterpretation" in item:
        del item.PixelOriginInterpretation  # only defined for tiled images
    gsps.ImageRotation = standard_rotation(int(state.rotation), state.flip_h)
    gsps.ImageHorizontalFlip = "Y" if state.flip_h else "N"


def read_gsps(path: str | Path) -> GspsContent:
    """Open a presentation state (ours or another viewer's)."""
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001
        raise DicomFileError(path, f"unreadable presentation state: {exc}") from exc
    if str(ds.get("SOPClassUID", "")) not in (GSPS_CLASS, CSPS_CLASS):
        raise DicomFileError(path, "not a softcopy presentation state")
    refs = [
        str(img.ReferencedSOPInstanceUID)
        for series in ds.get("ReferencedSeriesSequence", [])
        for img in series.get("ReferencedImageSequence", [])
    ]
    inverse = str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE"
    area = None
    das = ds.get("DisplayedAreaSelectionSequence")
    if das:
        tl, br = (
            das[0].get("DisplayedAreaTopLeftHandCorner"),
            das[0].get("DisplayedAreaBottomRightHandCorner"),
        )
        if tl and br:
            area = (int(tl[0]), int(tl[1]), int(br[0]), int(br[1]))
    author = str(ds.get("ContentCreatorName", "") or "")
    try:
        shutter = Shutter.from_dataset(ds)  # standard content, ours and other viewers' alike
    except ValueError as exc:
        raise DicomFileError(path, f"invalid display shutter: {exc}") from exc
    private = _private_payload(ds)
    if private is not None:
        state = ViewState.from_dict(private["state"])
        anns = [Annotation.from_dict(d) for d in private.get("annotations", [])]
        vp = private.get("viewport")
        return GspsContent(
            refs,
            state,
            anns,
            area,
            inverse,
            private.get("author", author),
            str(ds.get("ContentLabel", "")),
            (int(vp[0]), int(vp[1])) if vp else None,
            shutter,
        )
    window = None
    voi = ds.get("SoftcopyVOILUTSequence")
    if voi and "WindowCenter" in voi[0]:
        c, w = voi[0].WindowCenter, voi[0].WindowWidth
        c = float(c[0] if isinstance(c, pydicom.multival.MultiValue) else c)
        w = float(w[0] if isinstance(w, pydicom.multival.MultiValue) else w)
        window = Window(c, w, str(voi[0].get("VOILUTFunction", "LINEAR") or "LINEAR"))
    flip = str(ds.get("ImageHorizontalFlip", "N") or "N").strip().upper() == "Y"
    try:
        rotation = int(ds.get("ImageRotation", 0) or 0)
    except (TypeError, ValueError):
        rotation = 0
    if rotation % 90:
        warnings.warn(
            f"{path}: Image Rotation {rotation} is not a multiple of 90; ignored", stacklevel=2
        )
        rotation = 0
    state = ViewState(
        window=window,
        rotation=standard_rotation(rotation, flip),
        flip_h=flip,
        invert=inverse,
    )
    return GspsContent(
        refs,
        state,
        _standard_annotations(ds, author),
        area,
        inverse,
        author,
        str(ds.get("ContentLabel", "")),
        shutter=shutter,
    )


def _private_payload(ds: Dataset) -> dict | None:
    try:
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
        return json.loads(block[0x10].value)
    except (KeyError, ValueError, TypeError):
        return None


def _standard_annotations(ds: Dataset, author: str) -> list[Annotation]:
    """Annotations from another viewer's standard graphic/text objects."""
    out: list[Annotation] = []
    for ga in ds.get("GraphicAnnotationSequence", []):
        refs = ga.get("ReferencedImageSequence", [])
        if not refs:
            continue
        sop = str(refs[0].ReferencedSOPInstanceUID)
        frame = int(refs[0].get("ReferencedFrameNumber", 1) or 1) - 1
        for go in ga.get("GraphicObjectSequence", []):
            if str(go.get("GraphicAnnotationUnits", "")) != "PIXEL":
                continue  # DISPLAY units are relative to the viewport, not image points
            data = [float(v) for v in go.GraphicData]
            pts = list(zip(data[0::2], data[1::2], strict=False))
            gtype = str(go.GraphicType)
            closed = len(pts) > 2 and pts[0] == pts[-1]
            if gtype in ("POLYLINE", "INTERPOLATED") and closed:
                out.append(Annotation("freehand", pts[:-1], author, sop, frame))
            elif gtype == "POLYLINE" and len(pts) == 2:
                out.append(Annotation("length", pts, author, sop, frame))
            elif gtype == "POLYLINE" and len(pts) == 3:
                out.append(Annotation("angle", pts, author, sop, frame))
            elif gtype == "ELLIPSE" and len(pts) == 4:
                (ax, ay), (bx, by) = pts[0], pts[1]
                (cx, cy), (dx, dy) = pts[2], pts[3]
                out.append(
                    Annotation(
                        "ellipse",
                        [
                            (min(ax, bx, cx, dx), min(ay, by, cy, dy)),
                            (max(ax, bx, cx, dx), max(ay, by, cy, dy)),
                        ],
                        author,
                        sop,
                        frame,
                    )
                )
            elif gtype == "CIRCLE" and len(pts) == 2:
                (cx, cy), (px, py) = pts
                r = float(np.hypot(px - cx, py - cy))
                out.append(
                    Annotation("ellipse", [(cx - r, cy - r), (cx + r, cy + r)], author, sop, frame)
                )
            elif len(pts) >= 2:
                out.append(
                    Annotation("freehand" if len(pts) > 2 else "length", pts, author, sop, frame)
                )
        for to in ga.get("TextObjectSequence", []):
            anchor = to.get("AnchorPoint")
            box = to.get("BoundingBoxTopLeftHandCorner")
            point = anchor if anchor is not None else box
            if point is None:
                continue
            out.append(
                Annotation(
                    "text",
                    [(float(point[0]), float(point[1]))],
                    author,
                    sop,
                    frame,
                    text=str(to.get("UnformattedTextValue", "")),
                )
            )
    return out
