"""``python main.py export IN.dcm OUT.png [--frame N] [--window C,W] [--gsps PR.dcm]``.

Renders one frame headlessly through the same pipeline and view transform as the viewer.
Exit codes: 0 ok, 2 bad arguments or unreadable input (the message names file and problem).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from app.dicom_viewer.annotate_image import draw_overlays
from app.dicom_viewer.calibration import calibration_for
from app.dicom_viewer.corners import corner_text
from app.dicom_viewer.decoders import decode_frame, read_header
from app.dicom_viewer.errors import DicomFileError
from app.dicom_viewer.frames import frame_header
from app.dicom_viewer.gsps import GspsContent, read_gsps
from app.dicom_viewer.pipeline import Window, modality_values
from app.dicom_viewer.render import (
    PresentationOverrides,
    default_window,
    render_checked,
    to_viewport,
)
from app.dicom_viewer.view_state import ViewState, effective_zoom, fit_zoom, image_to_viewport


def _untranslated(_context: str, text: str) -> str:
    return text


def _parser(translate: Callable[[str, str], str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="main.py export",
        description=translate(
            "ExportCli", "Render a DICOM frame to PNG/JPEG as the viewer shows it."
        ),
    )
    p.add_argument("input", type=Path, help=translate("ExportCli", "DICOM image file"))
    p.add_argument("output", type=Path, help=translate("ExportCli", "output .png or .jpg"))
    p.add_argument(
        "--frame",
        type=int,
        default=1,
        help=translate("ExportCli", "frame number, 1-based (default 1)"),
    )
    p.add_argument(
        "--window",
        type=str,
        default=None,
        help=translate("ExportCli", "CENTER,WIDTH in modality units"),
    )
    p.add_argument(
        "--gsps",
        type=Path,
        default=None,
        help=translate("ExportCli", "presentation state to apply"),
    )
    p.add_argument(
        "--size",
        type=str,
        default=None,
        help=translate("ExportCli", "viewport WIDTHxHEIGHT (default: image)"),
    )
    p.add_argument(
        "--no-overlays",
        action="store_true",
        help=translate("ExportCli", "pixels only: no annotations or corner text"),
    )
    return p


class _Refused(ValueError):
    """A bad argument, worded for the user (the sentence is already translated)."""


def parse_window(text: str, translate: Callable[[str, str], str] = _untranslated) -> Window:
    """ "CENTER,WIDTH" → Window (width must be ≥ 1)."""
    try:
        c, w = (float(v) for v in text.split(","))
    except ValueError:
        raise _Refused(
            translate("ExportCli", "--window expects CENTER,WIDTH, got {text}").format(
                text=repr(text)
            )
        ) from None
    if not np.isfinite(c) or not np.isfinite(w) or w < 1:
        raise _Refused(
            translate("ExportCli", "--window width must be a number ≥ 1, got {text}").format(
                text=repr(text)
            )
        )
    return Window(c, w)


def apply_displayed_area(
    state: ViewState,
    area: tuple[int, int, int, int] | None,
    image_size: tuple[int, int],
    viewport: tuple[int, int],
) -> ViewState:
    """Centre and zoom so that the GSPS displayed area (1-based TLHC/BRHC) fits the viewport."""
    if area is None:
        return state
    x0, y0, x1, y1 = area
    width, height = x1 - x0 + 1, y1 - y0 + 1
    if (x0, y0) == (1, 1) and (width, height) == image_size:
        state.zoom, state.center = None, None
        return state
    state.center = ((x0 - 1 + x1) / 2.0, (y0 - 1 + y1) / 2.0)
    state.zoom = fit_zoom((width, height), viewport, state.rotation)
    return state


def render_export(
    path: Path,
    frame: int = 0,
    window: Window | None = None,
    gsps: GspsContent | None = None,
    viewport: tuple[int, int] | None = None,
    overlays: bool = True,
) -> np.ndarray:
    """The RGB array the viewer would show for this frame and presentation."""
    header, location = read_header(path)
    if "Rows" not in header:
        raise DicomFileError(path, "not an image (no Rows/Columns)")
    nframes = int(header.get("NumberOfFrames", 1) or 1)
    if not 0 <= frame < nframes:
        raise DicomFileError(path, f"frame {frame + 1} out of range (1..{nframes})")
    state = ViewState(frame_index=frame)
    overrides = None
    anns = []
    if gsps is not None:
        sop = str(header.SOPInstanceUID)
        if gsps.referenced_sop_uids and sop not in gsps.referenced_sop_uids:
            raise DicomFileError(path, "the presentation state does not reference this image")
        state = ViewState(
            window=gsps.state.window,
            rotation=gsps.state.rotation,
            flip_h=gsps.state.flip_h,
            invert=gsps.state.invert and not gsps.inverse,
            frame_index=frame,
        )
        if gsps.viewport is not None and (viewport is None or viewport == gsps.viewport):
            # Our own file: the exact zoom/centre the viewer had, in its viewport size.
            viewport = gsps.viewport
            state.zoom, state.center = gsps.state.zoom, gsps.state.center
            gsps_area = None
        else:
            gsps_area = gsps.displayed_area
        overrides = PresentationOverrides(inverse=gsps.inverse, shutter=gsps.shutter)
        anns = [a for a in gsps.annotations if a.sop_instance_uid == sop and a.frame == frame]
    if window is not None:
        state.window = window
    stored = decode_frame(path, frame, header, location)
    img = render_checked(str(path), header, frame, stored, state, overrides)
    h, w = img.shape[:2]
    if viewport is None:
        viewport = (h, w) if state.rotation % 180 else (w, h)
    if gsps is not None:
        state = apply_displayed_area(state, gsps_area, (w, h), viewport)
    rgb = to_viewport(img, state, viewport)
    if not overlays:
        return rgb
    fh = frame_header(header, frame)
    cal = calibration_for(fh)
    values = modality_values(fh, stored) if stored.ndim == 2 else None
    unit = "HU" if str(fh.get("Modality", "")) == "CT" else ""
    zoom = effective_zoom(state, (w, h), viewport)
    shown_window = state.window or default_window(fh)
    corners = corner_text(
        header, frame, frame, nframes, state, shown_window, zoom, (w, h), viewport
    )
    return draw_overlays(
        rgb, image_to_viewport(state, (w, h), viewport), anns, cal, values, unit, corners
    )


def main(argv: list[str], translate: Callable[[str, str], str] = _untranslated) -> int:
    """Entry point for ``main.py export``; returns the process exit code. ``translate``
    (context, text) words help and errors (main.py passes Qt's in the user's language)."""
    parser = _parser(translate)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and 2
    try:
        window = parse_window(args.window, translate) if args.window else None
        viewport = None
        if args.size:
            try:
                vw, vh = (int(v) for v in args.size.lower().split("x"))
            except ValueError:
                raise _Refused(
                    translate("ExportCli", "--size expects WIDTHxHEIGHT, got {text}").format(
                        text=repr(args.size)
                    )
                ) from None
            if not (16 <= vw <= 16384 and 16 <= vh <= 16384):
                raise _Refused(
                    translate("ExportCli", "--size must be between 16 and 16384 pixels each way")
                )
            viewport = (vw, vh)
        suffix = args.output.suffix.lower()
        if suffix not in (".png", ".jpg", ".jpeg"):
            raise _Refused(
                translate(
                    "ExportCli", "the output file must end in .png, .jpg or .jpeg: {path}"
                ).format(path=args.output)
            )
        gsps = read_gsps(args.gsps) if args.gsps else None
        rgb = render_export(
            args.input, args.frame - 1, window, gsps, viewport, overlays=not args.no_overlays
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(args.output, quality=92) if suffix != ".png" else Image.fromarray(
            rgb
        ).save(args.output)
    except _Refused as exc:
        _fail(translate, str(exc))
        return 2
    except DicomFileError as exc:
        # The sentence is the user's language; the technical detail (file: problem) follows.
        _fail(
            translate,
            translate("ExportCli", "the DICOM file could not be read or shown."),
            str(exc),
        )
        return 2
    except OSError as exc:
        _fail(translate, translate("ExportCli", "a file could not be read or written."), str(exc))
        return 2
    except Exception as exc:  # noqa: BLE001 - a malformed attribute is a message, not a traceback
        _fail(
            translate,
            translate("ExportCli", "the DICOM file could not be read or shown."),
            f"{args.input}: {type(exc).__name__}: {exc}",
        )
        return 2
    print(
        translate("ExportCli", "wrote {path} ({width}x{height})").format(
            path=args.output, width=rgb.shape[1], height=rgb.shape[0]
        )
    )
    return 0


def _fail(translate: Callable[[str, str], str], sentence: str, detail: str = "") -> None:
    print(
        translate("ExportCli", "export: error: {message}").format(message=sentence), file=sys.stderr
    )
    if detail:
        print(f"  ({detail})", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
