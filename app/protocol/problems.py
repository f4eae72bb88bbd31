"""What is wrong with a record or a request, as machine-readable problems (no wording here).

A :class:`Problem` names the field (dotted path, "" for the whole record), a stable ``code``
and the ``params`` the sentence needs (limits, allowed values). Client and hub build them
from a pydantic ``ValidationError`` with :func:`problems_from_validation`; the client words
them in the user's language (``app.ui.wording``), logs keep the English.

Codes (params):
  required · too_short (min) · too_long (max) · too_low (min) · too_high (max) ·
  not_a_number · not_whole_number · not_true_false · date_format · datetime_format ·
  choice (allowed) · pattern · not_a_list · invalid · transition (before, after) ·
  needs_patient · no_conflict · not_found

A schema rule with its own meaning raises ``PydanticCustomError("<code>", "<English>", params)``
from a validator; the code passes through unchanged (add its wording on the client).

:data:`HUB_ERROR_CODES` lists every ``ErrorBody.error`` the hub may send, so the client can
word each one and a test can check none is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field (``field`` "" = the record as a whole)."""

    field: str
    code: str
    params: dict[str, Any] = _field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (e.g. for an ErrorBody's ``detail``)."""
        return {"field": self.field, "code": self.code, "params": dict(self.params)}


# pydantic error type → our code; the limit params are renamed to min/max.
_PYDANTIC_CODES: dict[str, str] = {
    "missing": "required",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "string_too_short": "too_short",
    "too_short": "too_short",
    "greater_than_equal": "too_low",
    "greater_than": "too_low",
    "less_than_equal": "too_high",
    "less_than": "too_high",
    "int_parsing": "not_a_number",
    "int_type": "not_a_number",
    "float_parsing": "not_a_number",
    "float_type": "not_a_number",
    "decimal_parsing": "not_a_number",
    "int_from_float": "not_whole_number",
    "bool_parsing": "not_true_false",
    "bool_type": "not_true_false",
    "date_parsing": "date_format",
    "date_from_datetime_parsing": "date_format",
    "date_type": "date_format",
    "datetime_parsing": "datetime_format",
    "datetime_from_date_parsing": "datetime_format",
    "datetime_type": "datetime_format",
    "enum": "choice",
    "literal_error": "choice",
    "string_pattern_mismatch": "pattern",
    "list_type": "not_a_list",
    "string_type": "invalid",
    "dict_type": "invalid",
    "model_type": "invalid",
    "uuid_parsing": "invalid",
    "uuid_type": "invalid",
    "value_error": "invalid",
    "assertion_error": "invalid",
}

_LIMITS = {
    "min_length": "min",
    "max_length": "max",
    "ge": "min",
    "gt": "min",
    "le": "max",
    "lt": "max",
}

_CHOICES_PATTERN = re.compile(r"^\^\(([\w|]+)\)\$$")
_CHAR_CLASS_PATTERN = re.compile(r"^\^\[(\w+)\]\$$")


def allowed_from_pattern(pattern: str) -> list[str] | None:
    """The values a simple choice pattern accepts (``^(a|b)$`` or ``^[MF]$``), else None."""
    m = _CHOICES_PATTERN.match(pattern)
    if m:
        return m.group(1).split("|")
    m = _CHAR_CLASS_PATTERN.match(pattern)
    if m:
        return list(m.group(1))
    return None


def problem_from_error(error: Mapping[str, Any]) -> Problem:
    """One pydantic error dict (``ValidationError.errors()`` item) as a Problem."""
    where = ".".join(str(p) for p in error.get("loc", ()))
    kind = str(error.get("type", ""))
    ctx = dict(error.get("ctx") or {})
    code = _PYDANTIC_CODES.get(kind)
    if code is None:
        # A PydanticCustomError's type is our code (the client words unknown codes generically).
        code = kind or "invalid"
    ctx.pop("error", None)
    params: dict[str, Any] = {}
    for key, value in ctx.items():
        if key in _LIMITS:
            params[_LIMITS[key]] = value
        elif key == "expected":
            params["allowed"] = [
                v.strip(" '\"") for v in re.split(r",| or ", str(value)) if v.strip(" '\"")
            ]
        elif key == "pattern":
            allowed = allowed_from_pattern(str(value))
            if allowed is not None:
                code, params["allowed"] = "choice", allowed
        elif isinstance(value, (str, int, float, bool)) or value is None:
            params[key] = value
    if code == "too_short" and params.get("min") == 1:
        code = "required"
        params = {}
    return Problem(where, code, params)


FieldProblem = Problem
"""The same thing under the name the workflow modules use."""

WORKFLOW_CODES: tuple[str, ...] = (
    "id_card_length",  # resident ID is not 18 characters (length)
    "id_card_format",  # 17 digits then a digit or X expected
    "id_card_checksum",  # check digit wrong — a typing slip (check_character)
    "id_card_birth_date",  # digits 7–14 are not a real birth date
    "id_card_birth_mismatch",  # birth date differs from the ID's (from_id)
    "id_card_sex_mismatch",  # sex differs from the ID's (from_id: M or F)
    "consent_required",  # informed consent missing or incomplete before submitting
    "icd10_format",  # not an ICD-10 code (e.g. I10, E11.9)
    "amendment_reason_required",  # a report amendment must say why
)
"""Custom codes of the consultation workflow's schemas (app.protocol.records); each needs a
sentence in the client's wording module."""


def problem(code: str, message: str = "", **params: Any) -> PydanticCustomError:
    """Raise this inside a pydantic validator to get ``code`` (not English) out; a
    ``field=`` param names the field of a model-level problem."""
    return PydanticCustomError(code, message or code, params)


def problems_from_validation(exc: ValidationError) -> list[Problem]:
    """Every problem a pydantic ValidationError reports, in its order."""
    return [problem_from_error(e) for e in exc.errors()]


def describe_in_english(problems: list[Problem]) -> str:
    """A plain English summary for logs and tracebacks (never shown in a translated UI)."""
    return "; ".join(
        f"{p.field or '(record)'}: {p.code}" + (f" {p.params}" if p.params else "")
        for p in problems
    )


HUB_ERROR_CODES: tuple[str, ...] = (
    # auth
    "invalid_credentials",
    "account_disabled",
    "too_many_attempts",
    "invalid_refresh_token",
    "invalid_token",
    "not_authenticated",
    # request shape and protocol
    "invalid_request",
    "invalid_data",
    "invalid_text",
    "invalid_number",
    "unsupported_protocol",
    "body_too_large",
    "batch_too_large",
    "bad_request",
    "method_not_allowed",
    "not_acceptable",
    "length_required",
    "precondition_failed",
    "unsupported_media_type",
    "http_error",
    # access and records
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "gone",
    "too_large",
    "too_many_requests",
    # blobs (tus uploads)
    "blob_too_large",
    "checksum_mismatch",
    "chunk_too_long",
    "invalid_checksum",
    "invalid_metadata",
    "offset_mismatch",
    "quota_exceeded",
    "range_not_satisfiable",
    "unsupported_checksum",
    "unsupported_tus_version",
    "upload_complete",
    "upload_expired",
    "upload_busy",
    "wrong_content_type",
    # the hub itself
    "internal_error",
    # the hub's edge (malformed or slow requests) and damaged stored records
    "ambiguous_length",
    "invalid_header",
    "missing_tus_version",
    "request_timeout",
    "document_damaged",
)
"""Every ``ErrorBody.error`` code the hub sends (a hub test checks the hub uses no other)."""
