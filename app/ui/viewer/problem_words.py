"""A viewer failure in the user's language: one translated sentence naming the file and what
is wrong, with the technical detail (the decoder's own words, for IT) after it.

``DicomFileError`` carries an English ``problem`` written at the raise sites in the Qt-free
viewer core; the kinds are told apart here by how those sentences begin (the table below),
and anything not listed still gets a translated sentence ("could not be shown")."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication


def _kinds() -> list[tuple[tuple[str, ...], str]]:
    """(problem prefixes, translated sentence with {file}), first match wins."""

    return [
        (
            ("file not found",),
            QCoreApplication.translate("ViewerProblem", "{file}: the file is missing."),
        ),
        (
            ("not a DICOM file", "unreadable DICOM header", "unreadable DICOM file"),
            QCoreApplication.translate("ViewerProblem", "{file} is not a readable DICOM file."),
        ),
        (
            ("no pixel data", "not an image"),
            QCoreApplication.translate(
                "ViewerProblem", "{file} holds no image (it may be a report or other object)."
            ),
        ),
        (
            ("pixel data truncated", "pixel data too short"),
            QCoreApplication.translate(
                "ViewerProblem", "The image data of {file} is incomplete (the file is cut off)."
            ),
        ),
        (
            ("cannot decode pixel data", "the decoder crashed", "decoded size"),
            QCoreApplication.translate(
                "ViewerProblem",
                "The image in {file} could not be decoded (damaged or unusual compression).",
            ),
        ),
        (
            ("compressed image not decoded",),
            QCoreApplication.translate(
                "ViewerProblem",
                "The compressed image in {file} cannot be decoded on this computer: the "
                "decoder processes could not start.",
            ),
        ),
        (
            ("frame ",),
            QCoreApplication.translate(
                "ViewerProblem", "{file}: that frame does not exist or is too large to show."
            ),
        ),
        (
            ("invalid image", "inconsistent image header", "invalid display shutter"),
            QCoreApplication.translate(
                "ViewerProblem", "{file} describes its image inconsistently and cannot be shown."
            ),
        ),
        (
            ("cannot render frame",),
            QCoreApplication.translate(
                "ViewerProblem", "The image in {file} could not be displayed."
            ),
        ),
        (
            ("not a softcopy presentation state", "unreadable presentation state"),
            QCoreApplication.translate(
                "ViewerProblem", "{file} is not a readable presentation state (GSPS)."
            ),
        ),
        (
            ("the presentation state does not reference",),
            QCoreApplication.translate(
                "ViewerProblem", "The presentation state does not belong to {file}."
            ),
        ),
        (
            ("no readable waveform",),
            QCoreApplication.translate("ViewerProblem", "{file} holds no readable ECG waveform."),
        ),
        (
            ("refusing to overwrite the original",),
            QCoreApplication.translate(
                "ViewerProblem", "{file}: the original is never overwritten; choose another folder."
            ),
        ),
    ]


def viewer_problem_text(exc: BaseException) -> str:
    """The sentence for a viewer failure (``DicomFileError`` or any other), detail appended."""
    path = getattr(exc, "path", None)
    problem = str(getattr(exc, "problem", "") or exc)
    name = Path(path).name if path else ""
    if path is not None:
        for prefixes, sentence in _kinds():
            if problem.startswith(prefixes):
                return f"{sentence.format(file=name)} ({problem})"
        head = QCoreApplication.translate("ViewerProblem", "{file} could not be shown.").format(
            file=name
        )
        return f"{head} ({problem})"
    if isinstance(exc, OSError):
        head = QCoreApplication.translate("ViewerProblem", "A file could not be read or written.")
    else:
        head = QCoreApplication.translate("ViewerProblem", "The viewer could not do this.")
    return f"{head} ({exc})"
