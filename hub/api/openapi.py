"""The OpenAPI document says what the hub really does (schemathesis checks it, bench/hub_fuzz.py).

FastAPI's generated document is close but looser than the hub in three ways, fixed here:

- text: the edge (hub.edge) refuses NUL and BMP non-characters in every string, so every
  string schema of a request says so with ``app.protocol.text.TEXT_PATTERN``, and free-form
  document ``fields`` are declared as JSON whose strings and keys follow it;
- headers and query values are never JSON ``null``: ``X | None`` parameters are declared as
  just ``X`` (optional);
- tus: ``Tus-Resumable: 1.0.0`` is required on requests and present on replies
  (hub.api.blobs.declare_tus).
"""

from __future__ import annotations

from typing import Any

from app.protocol.text import TEXT_PATTERN

JSON_VALUE = "StrictJsonValue"


def _strict_json() -> dict:
    ref = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
    return {
        "description": "any JSON value whose strings and keys are storable text",
        "anyOf": [
            {"type": "null"},
            {"type": "boolean"},
            {"type": "number"},
            {"type": "string", "pattern": TEXT_PATTERN},
            {"type": "array", "items": ref},
            {
                "type": "object",
                "propertyNames": {"pattern": TEXT_PATTERN},
                "additionalProperties": ref,
            },
        ],
    }


def _tighten(node: Any) -> None:
    """Walk a schema: patterns on plain strings, strict JSON for free-form objects."""
    if isinstance(node, list):
        for item in node:
            _tighten(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "string" and not ({"pattern", "enum", "format", "const"} & set(node)):
        node["pattern"] = TEXT_PATTERN
    if node.get("type") == "object" and node.get("additionalProperties") in (True, {}):
        node["additionalProperties"] = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
        node["propertyNames"] = {"pattern": TEXT_PATTERN}
    for key, value in node.items():
        if key != "additionalProperties" or isinstance(value, dict):
            _tighten(value)


def _not_null(schema: dict) -> dict:
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        rest = [b for b in branches if b.get("type") != "null"]
        if len(rest) == 1 and len(rest) < len(branches):
            merged = {k: v for k, v in schema.items() if k != "anyOf"}
            merged.update(rest[0])
            return merged
    return schema


def tighten(openapi: dict) -> None:
    """Make a FastAPI OpenAPI document as strict as the hub (in place)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        if name != JSON_VALUE:
            _tighten(schema)
    schemas[JSON_VALUE] = _strict_json()
    for ops in openapi.get("paths", {}).values():
        for op in ops.values():
            for param in op.get("parameters", []):
                if param.get("in") in ("header", "query", "path") and "schema" in param:
                    param["schema"] = _not_null(param["schema"])
                    _tighten(param["schema"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                _tighten(body.get("schema"))
