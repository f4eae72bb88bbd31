"""Errors that name the file and the problem, so every failure can be shown to a person."""

from __future__ import annotations

from pathlib import Path


class DicomFileError(Exception):
    """A file could not be read, decoded or rendered; ``str()`` names file and problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Crosses process boundaries (decode workers): rebuild from both parts.
        return (type(self), (self.path, self.problem))
