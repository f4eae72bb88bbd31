"""Finding a patient the way a township doctor types: a Chinese name or part of it, pinyin
initials ("zgl" for 张桂兰), the resident ID number, a phone number or the clinic's number.

Qt-free. Polyphonic characters give every reading's initials (单 is "d" and "s"), so the
surname reading never hides a patient.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_MAX_READINGS = 32  # combinations of polyphonic readings kept per name


def pinyin_keys(name: str) -> tuple[set[str], set[str]]:
    """(initials, full spellings) of ``name`` in lower-case Latin letters, every reading."""
    from pypinyin import Style, pinyin  # loaded on first search, not at start-up

    chars = [c for c in name if not c.isspace()]
    if not chars:
        return set(), set()
    # errors=list: a run of non-Chinese characters gives one entry per character. pypinyin's
    # stub types the callable as returning one str; its docs and code also take a list.
    full = pinyin(
        "".join(chars),
        style=Style.NORMAL,
        heteronym=True,
        errors=lambda s: list(s),  # type: ignore[arg-type,return-value]
    )
    options = [sorted({r.lower() for r in readings if r}) or [""] for readings in full]
    initials: set[str] = set()
    spellings: set[str] = set()
    for combo in itertools.islice(itertools.product(*options), _MAX_READINGS):
        initials.add("".join(r[:1] for r in combo))
        spellings.add("".join(combo))
    return initials, spellings


_DIGITS = re.compile(r"^[0-9xX-]+$")


@dataclass
class _Entry:
    doc_id: str
    fields: dict[str, Any]
    initials: set[str] = field(default_factory=set)
    spellings: set[str] = field(default_factory=set)


class PatientIndex:
    """The clinic's patients, searchable; rebuilt off the GUI thread when records change."""

    def __init__(self, patients: Iterable[tuple[str, dict[str, Any]]] = ()) -> None:
        self.entries: list[_Entry] = []
        for doc_id, fields in patients:
            initials, spellings = pinyin_keys(str(fields.get("name", "")))
            self.entries.append(_Entry(doc_id, fields, initials, spellings))
        from pypinyin import lazy_pinyin

        # Listed in pinyin order, as Chinese name lists are.
        self.entries.sort(key=lambda e: "".join(lazy_pinyin(str(e.fields.get("name", "")))))

    def search(self, query: str) -> list[str]:
        """Ids of the patients matching ``query`` (all of them for an empty query), best first."""
        q = query.strip().lower().replace(" ", "")
        if not q:
            return [e.doc_id for e in self.entries]
        scored: list[tuple[int, str]] = []
        for e in self.entries:
            score = self._score(e, q)
            if score:
                scored.append((score, e.doc_id))
        scored.sort(key=lambda s: -s[0])  # stable: alphabetical within a score
        return [doc_id for _score, doc_id in scored]

    @staticmethod
    def _score(e: _Entry, q: str) -> int:
        f = e.fields
        name = str(f.get("name", "")).lower()
        number = str(f.get("patient_number", "")).lower()
        if q == name or q == number:
            return 100
        if _DIGITS.match(q):
            ident = str(f.get("id_card", "")).lower()
            phone = re.sub(r"\D", "", str(f.get("phone", "")))
            if q == ident:
                return 90
            if len(q) >= 3 and (q in ident or q.replace("-", "") in phone or q in number):
                return 50
            return 0
        if q in name:
            return 80 if name.startswith(q) else 60
        if q.isascii():
            if q in e.initials:
                return 75
            if any(i.startswith(q) for i in e.initials):
                return 70
            if any(s.startswith(q) for s in e.spellings):
                return 65
            if q in number:
                return 40
        return 0
