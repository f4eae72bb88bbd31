"""The packaged decoder self-check: decode a shipped sample of every transfer syntax, in this
process and in a spawned decode worker (as the viewer does), and state the known limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.uid import UID

from app.dicom_viewer import jpeg_turbo
from app.dicom_viewer.decode_pool import ProcessDecodePool
from app.dicom_viewer.decoders import decode_frame, read_header
from app.dicom_viewer.errors import DicomFileError


def samples_dir() -> Path:
    """The shipped samples (inside the frozen bundle too)."""
    from app.paths import resources_dir

    return resources_dir() / "dicom_samples"


# Every transfer syntax the installed plugins are meant to cover; each should have a sample.
COVERED_SYNTAXES = (
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
    "1.2.840.10008.1.2.5",
)
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
# Decoded by libjpeg-turbo 3 (imagecodecs, BSD); pylibjpeg-libjpeg would too but is GPLv3.
TWELVE_BIT_JPEG_SAMPLE = Path("limits") / "JPGExtended_12bit.dcm"


def self_check(folder_override: Path | None = None) -> list[tuple[str, bool, str]]:
    """Decode every shipped sample (one or more per transfer syntax): (syntax, ok, message).

    Compressed samples are decoded in a spawned worker process as well, the way the viewer
    decodes compressed series, and must give the same pixels as in this process.
    Syntaxes without a sample are listed with the decoder plugins present ("no shipped
    sample; ..."). The 12-bit JPEG Extended limitation is tried on a real file and stated.
    """
    from pydicom.pixels import get_decoder

    folder = folder_override or samples_dir()
    results: list[tuple[str, bool, str]] = []
    seen: set[str] = set()
    samples = sorted(folder.glob("*.dcm"))
    in_process = _decode_in_worker_process([p for p in samples if _is_encapsulated_file(p)])
    for path in samples:
        try:
            header, loc = read_header(path)
            tsyntax = str(header.file_meta.TransferSyntaxUID)
            name = UID(tsyntax).name
            arr = decode_frame(path, 0, header, loc)
            expected = (int(header.Rows), int(header.Columns))
            ok = arr.shape[:2] == expected and arr.size > 0
            msg = f"{path.name}: {arr.shape} {arr.dtype}"
            if path in in_process:
                other = in_process[path]
                if isinstance(other, BaseException):
                    ok, msg = False, f"{msg}; in a worker process: {other}"
                elif not np.array_equal(other, arr):
                    ok, msg = False, f"{msg}; a worker process decoded different pixels"
                else:
                    msg += ", same in a worker process"
            if tsyntax == JPEG_EXTENDED:
                msg += "; " + _twelve_bit_jpeg_note(folder / TWELVE_BIT_JPEG_SAMPLE)
            results.append((name, ok, msg))
            seen.add(tsyntax)
        except DicomFileError as exc:
            results.append((path.name, False, str(exc)))
    # Syntaxes without a shipped sample: at least say whether a decoder plugin is present.
    for uid in COVERED_SYNTAXES:
        if uid in seen or not UID(uid).is_compressed:
            continue
        dec = get_decoder(uid)
        ok = bool(dec.available_plugins)
        msg = (
            "no shipped sample; decoder plugin present: " + ", ".join(dec.available_plugins)
            if ok
            else "no decoder plugin installed"
        )
        results.append((UID(uid).name, ok, msg))
    if not results:
        results.append(("samples", False, f"no DICOM samples found in {folder}"))
    return results


def _is_encapsulated_file(path: Path) -> bool:
    try:
        header, _loc = read_header(path)
        return UID(str(header.file_meta.TransferSyntaxUID)).is_encapsulated
    except DicomFileError:
        return False


def _decode_in_worker_process(paths: list[Path]) -> dict[Path, np.ndarray | BaseException]:
    """Frame 1 of each file decoded by a spawned decode worker (also proves the frozen
    bundle can start one)."""
    if not paths:
        return {}
    pool = ProcessDecodePool(workers=1)
    out: dict[Path, np.ndarray | BaseException] = {}
    try:
        futures = {p: pool.submit(p, 0) for p in paths}
        for p, fut in futures.items():
            try:
                out[p] = fut.result(timeout=60)
            except BaseException as exc:  # noqa: BLE001 - reported in the row
                out[p] = exc
    finally:
        pool.shutdown(wait=True)
    return out


def _twelve_bit_jpeg_note(sample: Path) -> str:
    """Try the shipped 12-bit JPEG Extended file and say what happens (and to whom)."""
    if not sample.exists():
        return "12-bit JPEG Extended not tried (no sample)"
    try:
        arr = _decode_in_worker_process([sample])[sample]
        if isinstance(arr, BaseException):
            raise arr
    except DicomFileError as exc:
        version = jpeg_turbo.turbo_version()
        return (
            "12-bit JPEG Extended is NOT decoded here, so studies whose images are stored as "
            "JPEG Extended (1.2.840.10008.1.2.4.51) with Bits Stored 12 (older CT, MR and CR "
            "archives) cannot be shown; libjpeg-turbo "
            + (".".join(map(str, version)) if version else "missing")
            + f" (imagecodecs, needs >= 3.0): {sample.name}: {exc.problem}"
        )
    return f"12-bit JPEG Extended also decodes ({sample.name}, libjpeg-turbo, {arr.dtype})"
