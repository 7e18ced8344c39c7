"""Example payloads made from an action's schema, for the debugger's action forms: each field
at its default, else its first allowed value, else an empty value of its type."""

from __future__ import annotations

from typing import Any

import pydantic

NO_PAYLOAD = None  # the action takes none: a button, no form


def payload(schema: object) -> object:
    """A JSON value matching `schema` to start editing from (None: the action takes none)."""
    if schema is None:
        return NO_PAYLOAD
    if schema is Any:
        return {}
    document = pydantic.TypeAdapter[Any](schema).json_schema()  # type: ignore[arg-type]
    return _example(document, document.get("$defs", {}), depth=0)


def _example(node: dict[str, Any], definitions: dict[str, Any], depth: int) -> object:
    if depth > 5:  # a schema that refers to itself: stop with an empty value
        return None
    if "$ref" in node:
        return _example(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions, depth + 1)
    if "default" in node:
        return node["default"]
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if node.get(key):
            return _example(node[key][0], definitions, depth + 1)
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        required = set(node.get("required", ()))
        return {
            name: _example(field, definitions, depth + 1)
            for name, field in node.get("properties", {}).items()
            if name in required or "default" in field
        }
    empty: dict[object, object] = {"string": "", "integer": 0, "number": 0, "boolean": False}
    if kind == "array":
        return []
    return empty.get(kind) if isinstance(kind, str) else None
