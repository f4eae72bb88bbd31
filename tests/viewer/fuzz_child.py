"""Child-process side of the decoder fuzz run (tests/viewer/test_fuzz.py).

Reads a list of files, and for each runs what the viewer runs: index the header, decode
frame 1 the way a decode worker does, render it. Before each file it writes "start NAME" to
the log (flushed), after it one JSON line with the outcome; a native death therefore leaves
the culprit as the last "start" line without an outcome.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path


def run(files: list[Path], log) -> None:  # noqa: ANN001 - text file
    from app.dicom_viewer.decode_pool import decode_in_process
    from app.dicom_viewer.errors import DicomFileError
    from app.dicom_viewer.index import ImportReport, read_instance
    from app.dicom_viewer.render import render_checked, to_viewport
    from app.dicom_viewer.view_state import ViewState

    for path in files:
        log.write(f"start {path}\n")
        log.flush()
        outcome: dict = {"file": str(path)}
        report = ImportReport()
        try:
            inst = read_instance(path, report)
            if inst is None:
                outcome["skipped"] = [s.reason for s in report.skipped if s.path == str(path)]
                outcome["presentation_state"] = path in report.presentation_states
            elif inst.is_image:
                stored = decode_in_process(str(path), 0)
                img = render_checked(str(path), inst.header, 0, stored, ViewState())
                out = to_viewport(img, ViewState(), (96, 96))
                outcome["shown"] = list(out.shape)
        except DicomFileError as exc:
            outcome["error"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - the test fails on these, naming them
            outcome["unexpected"] = f"{type(exc).__name__}: {exc}"
        log.write(json.dumps(outcome) + "\n")
        log.flush()


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    listing, log_path = Path(sys.argv[1]), Path(sys.argv[2])
    with open(log_path, "w", encoding="utf-8") as log:
        run([Path(line) for line in listing.read_text().splitlines() if line], log)
