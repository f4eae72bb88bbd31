"""What text the protocol carries: Unicode scalar values a database can store and a JSON
encoder can write back — no lone surrogates, no NUL, no Basic-Multilingual-Plane
non-characters (U+FDD0–U+FDEF, U+FFFE, U+FFFF: byte-order-mark confusion and internal
sentinels). The plane-end non-characters (U+1FFFE …) are ordinary scalar values to every
encoder and database here and pass, so that :data:`TEXT_PATTERN` (what the OpenAPI document
declares) says exactly what is accepted.

Both ends check with :func:`find_bad_text`: the hub refuses such a request with 422 naming
the field (it must be able to serve back everything it accepts), and a client can refuse
the edit before it is queued for a push that would never go through.
"""

from __future__ import annotations

import math
from typing import Any

TEXT_PATTERN = "^[^\\u0000\\ufdd0-\\ufdef\\ufffe\\uffff]*$"
"""JSON-Schema pattern of the strings :func:`bad_char` accepts (lone surrogates, which a
JSON Schema string cannot hold anyway, aside)."""


def bad_char(text: str) -> str | None:
    """A description of the first character of ``text`` the protocol refuses, or None."""
    for ch in text:
        cp = ord(ch)
        if cp == 0:
            return "a NUL (U+0000) character"
        if 0xD800 <= cp <= 0xDFFF:
            return f"a lone UTF-16 surrogate (U+{cp:04X})"
        if 0xFDD0 <= cp <= 0xFDEF or cp in (0xFFFE, 0xFFFF):
            return f"a Unicode non-character (U+{cp:04X})"
    return None


def find_bad_text(value: Any, where: str = "") -> tuple[str, str] | None:
    """(path, problem) of the first refused string, key or number inside a decoded JSON
    value, or None. Paths read like ``changes.0.fields.name``. Iterative: hostile nesting
    must not exhaust the stack."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            problem = bad_char(item)
            if problem:
                return path or "body", f"contains {problem}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return (
                    path or "body",
                    "is not a finite number (NaN and infinities cannot be stored)",
                )
        elif isinstance(item, dict):
            for key, sub in item.items():
                sub_path = f"{path}.{key}" if path else str(key)
                problem = bad_char(key)
                if problem:
                    return (path or "body"), f"has a key that contains {problem}"
                stack.append((sub, sub_path))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}.{i}" if path else str(i)) for i, sub in enumerate(item))
    return None
