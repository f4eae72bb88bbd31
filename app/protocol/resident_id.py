"""The 18-digit resident identity number (居民身份证号, GB 11643-1999).

Layout: 6-digit address code, 8-digit birth date (YYYYMMDD), 3-digit sequence (odd = male,
even = female), one check character computed with ISO 7064 MOD 11-2 over the first 17
digits (``X`` stands for 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.protocol.problems import FieldProblem

_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, ...
_CHECK = "10X98765432"


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


@dataclass(frozen=True)
class ResidentId:
    """What the number says about its holder."""

    number: str
    birth_date: str  # YYYY-MM-DD
    sex: str  # "M" or "F"
    region: str  # 6-digit address code


def normalize(raw: str) -> str:
    """Strip spaces and make a trailing x upper case (how people type it)."""
    return "".join(raw.split()).upper()


def parse(raw: str, field: str = "id_card", today: date | None = None) -> ResidentId:
    """Check a resident ID and return what it encodes; raises ``ValueError`` whose
    ``args[0]`` is a :class:`FieldProblem`."""
    number = normalize(raw)
    if len(number) != 18:
        raise ValueError(
            FieldProblem(field=field, code="id_card_length", params={"length": len(number)})
        )
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValueError(FieldProblem(field=field, code="id_card_format"))
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValueError(FieldProblem(field=field, code="id_card_birth_date")) from None
    if born > (today or date.today()) or born.year < 1880:
        raise ValueError(FieldProblem(field=field, code="id_card_birth_date"))
    expected = check_character(number[:17])
    if number[17] != expected:
        raise ValueError(
            FieldProblem(field=field, code="id_card_checksum", params={"check_character": expected})
        )
    return ResidentId(
        number=number,
        birth_date=born.isoformat(),
        sex="M" if int(number[16]) % 2 else "F",
        region=number[:6],
    )


def make(region: str, birth: date, sequence: int) -> str:
    """A valid number for tests and demo data (``sequence`` 0–999; odd = male)."""
    first17 = f"{region:0>6}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)
