"""Read the self-check's text report back into (group, state, name, detail) rows."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"^  (PASS|WARN|SKIP|FAIL)  ([^:]+): (.*)$")


@dataclass(frozen=True)
class Row:
    """One reported check."""

    group: str
    state: str
    name: str
    detail: str


def parse_report(text: str) -> list[Row]:
    """Every check line of the report, with the group heading it sits under."""
    rows: list[Row] = []
    group = ""
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
            continue
        match = _LINE.match(line)
        if match:
            rows.append(Row(group, match.group(1), match.group(2), match.group(3)))
    return rows


def in_group(rows: list[Row], group: str) -> list[Row]:
    """The rows of one group."""
    return [r for r in rows if r.group == group]


def one(rows: list[Row], group: str, name: str) -> Row:
    """The single row for ``name`` in ``group`` (fails the test if absent or repeated)."""
    found = [r for r in rows if r.group == group and r.name == name]
    assert len(found) == 1, f"expected one '{group}/{name}' line, got {found}"
    return found[0]
