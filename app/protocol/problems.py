"""Machine-readable validation problems: which field, what is wrong (a stable code), details.

Client and hub report invalid records as a list of :class:`FieldProblem` — never as a
library's English sentence — so the UI can word each one in the user's language
(field label + sentence for ``code`` filled with ``params``). ``field`` is a dotted path into
the record's fields (``"consent.signed_at"``, ``"vitals.bp_systolic"``); ``""`` means the
record as a whole.

Codes (stable; add new ones, never rename):

===================  ==========================================  ======================
code                 meaning                                     params
===================  ==========================================  ======================
required             must be filled in
too_long             longer than allowed                         max
too_short            shorter than allowed                        min
out_of_range         number outside the plausible range          min, max
not_a_number         expected a number
invalid_choice       not one of the allowed values               allowed (list)
invalid_format       wrong shape (pattern)
invalid_date         not a real date (YYYY-MM-DD)
invalid_datetime     not a date and time (ISO 8601)
future_date          a date in the future where that is impossible
id_card_length       resident ID is not 18 characters
id_card_format       17 digits then a digit or X expected
id_card_checksum     check digit wrong (typing slip)             expected
id_card_birth_date   digits 7–14 are not a real birth date
id_card_birth_mismatch  birth date differs from the ID's          from_id
id_card_sex_mismatch    sex differs from the ID's                 from_id
consent_required     informed consent missing before submitting
icd10_format         not an ICD-10 code (e.g. I10, E11.9)
amendment_reason_required  an amendment must say why
invalid              anything else (message has the detail)
===================  ==========================================  ======================
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_core import PydanticCustomError

CODES = frozenset(
    {
        "required",
        "too_long",
        "too_short",
        "out_of_range",
        "not_a_number",
        "invalid_choice",
        "invalid_format",
        "invalid_date",
        "invalid_datetime",
        "future_date",
        "id_card_length",
        "id_card_format",
        "id_card_checksum",
        "id_card_birth_date",
        "id_card_birth_mismatch",
        "id_card_sex_mismatch",
        "consent_required",
        "icd10_format",
        "amendment_reason_required",
        "invalid",
    }
)
"""Every code this module documents (a UI wording module covers exactly these)."""


class FieldProblem(BaseModel):
    """One thing wrong with one field."""

    field: str = Field(description="dotted path into the record's fields; '' = whole record")
    code: str = Field(description="stable reason code (see app.protocol.problems)")
    params: dict[str, Any] = Field(default_factory=dict)
    message: str = Field(default="", description="English detail for logs, never for the UI")

    def __str__(self) -> str:
        return f"{self.field or '(record)'}: {self.code}" + (
            f" {self.params}" if self.params else ""
        )


class RecordInvalid(ValueError):
    """A record whose fields make no sense; ``problems`` says which fields and why."""

    def __init__(self, message: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(message)
        self.problems: list[FieldProblem] = list(problems or [])


def problem(code: str, message: str = "", **params: Any) -> PydanticCustomError:
    """Raise this inside a pydantic validator to get ``code`` (not English) out."""
    return PydanticCustomError(code, message or code, params)


_PYDANTIC_CODES = {
    "missing": "required",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "string_pattern_mismatch": "invalid_format",
    "enum": "invalid_choice",
    "literal_error": "invalid_choice",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "greater_than": "out_of_range",
    "less_than": "out_of_range",
    "int_parsing": "not_a_number",
    "int_type": "not_a_number",
    "int_from_float": "not_a_number",
    "float_parsing": "not_a_number",
    "float_type": "not_a_number",
    "finite_number": "not_a_number",
    "date_from_datetime_parsing": "invalid_date",
    "date_parsing": "invalid_date",
    "datetime_parsing": "invalid_datetime",
    "datetime_from_date_parsing": "invalid_datetime",
}


_CHOICES = re.compile(r"^\^\(\|?[\w]+(\|[\w]+)*\)\$$")


def _params(err: dict[str, Any], code: str) -> dict[str, Any]:
    ctx = dict(err.get("ctx") or {})
    out: dict[str, Any] = {}
    if code == "too_long":
        out["max"] = ctx.get("max_length")
    elif code == "too_short":
        out["min"] = ctx.get("min_length")
    elif code == "out_of_range":
        for key, name in (("ge", "min"), ("gt", "min"), ("le", "max"), ("lt", "max")):
            if key in ctx:
                out[name] = ctx[key]
    elif code == "invalid_choice" and "expected" in ctx:
        out["allowed"] = [
            s.strip(" '") for s in str(ctx["expected"]).replace(" or ", ",").split(",")
        ]
    elif code == "invalid_choice" and "pattern" in ctx:
        out["allowed"] = [s for s in ctx["pattern"][2:-2].split("|") if s]
    elif code in ("required", "not_a_number", "invalid_date", "invalid_datetime"):
        pass
    else:
        out = {k: v for k, v in ctx.items() if isinstance(v, str | int | float | bool | list)}
    if "field" in ctx:  # a model-level problem naming its field (see records._fix_custom_fields)
        out["field"] = ctx["field"]
    return {k: v for k, v in out.items() if v is not None}


def problems_from(exc: ValidationError) -> list[FieldProblem]:
    """Turn a pydantic error into field problems with stable codes."""
    out: list[FieldProblem] = []
    for err in exc.errors():
        kind = err["type"]
        if kind == "string_too_short":
            code = "required" if (err.get("ctx") or {}).get("min_length") == 1 else "too_short"
        else:
            code = _PYDANTIC_CODES.get(kind, kind if kind in CODES else "invalid")
            pattern = str((err.get("ctx") or {}).get("pattern", ""))
            if code == "invalid_format" and _CHOICES.match(pattern):
                code = "invalid_choice"
        field = ".".join(str(p) for p in err.get("loc", ()))
        out.append(
            FieldProblem(field=field, code=code, params=_params(err, code), message=err["msg"])
        )
    return out


def invalid(doc_type: str, problems: list[FieldProblem]) -> RecordInvalid:
    """A :class:`RecordInvalid` with an English summary for logs."""
    summary = "; ".join(str(p) for p in problems)
    return RecordInvalid(f"{doc_type} record is not valid — {summary}", problems)
