"""Walk a JSON Schema alongside a value (references, unions, properties, items) and build its
smallest instance."""

from __future__ import annotations

import json
from typing import Any

Schema = dict[str, Any]


def resolve(root: Schema, schema: Any) -> Schema:
    """Follow local ``$ref`` pointers (``#/$defs/axis``)."""
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 32:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            return {}
        target: Any = root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part, {}) if isinstance(target, dict) else {}
        schema = target
        seen += 1
    return schema if isinstance(schema, dict) else {}


def branches(root: Schema, schema: Any) -> list[Schema]:
    resolved = resolve(root, schema)
    options = resolved.get("anyOf") or resolved.get("oneOf")
    if isinstance(options, list):
        return [branch for option in options for branch in branches(root, option)]
    return [resolved]


def types_of(schema: Schema) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    if "properties" in schema or "required" in schema:
        return {"object"}
    if "items" in schema or "prefixItems" in schema:
        return {"array"}
    return set()


def branch_of_kind(root: Schema, schema: Schema, kind: str) -> Schema:
    """The branch of a union schema that describes a value of ``kind``."""
    for branch in branches(root, schema):
        if kind in types_of(branch):
            return branch
    return {}


def property_schema(root: Schema, schema: Schema, key: str) -> Schema:
    resolved = resolve(root, schema)
    properties = resolved.get("properties", {})
    if key in properties:
        return resolve(root, properties[key])
    extra = resolved.get("additionalProperties")
    return resolve(root, extra) if isinstance(extra, dict) else {}


def item_schema(root: Schema, schema: Schema, index: int) -> Schema:
    resolved = resolve(root, schema)
    prefix = resolved.get("prefixItems")
    if isinstance(prefix, list) and index < len(prefix):
        return resolve(root, prefix[index])
    items = resolved.get("items")
    return resolve(root, items) if isinstance(items, dict) else {}


def required_keys(root: Schema, schema: Schema) -> list[str]:
    required = resolve(root, schema).get("required", [])
    return [str(key) for key in required] if isinstance(required, list) else []


def minimal_instance(schema: Schema) -> Any:
    """The smallest value of a schema's shape: nulls where allowed, empty arrays, zeros."""
    return json.loads(minimal_json(schema, schema))


def minimal_json(root: Schema, schema: Any, separators: tuple[str, str] = (", ", ": "), depth: int = 0) -> str:
    """Shortest JSON text of a value that has the schema's shape (null wherever allowed)."""
    options = [_minimalbranch_of_kind(root, branch, separators, depth) for branch in branches(root, schema)]
    return min(options, key=len) if options else "null"


def _minimalbranch_of_kind(root: Schema, schema: Schema, separators: tuple[str, str], depth: int) -> str:
    item_separator, key_separator = separators
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return min((json.dumps(value, ensure_ascii=False) for value in schema["enum"]), key=len)
    types = types_of(schema)
    if not types or "null" in types or depth > 16:
        return "null"
    if "object" in types:
        properties = schema.get("properties", {})
        fields = [
            json.dumps(key, ensure_ascii=False)
            + key_separator
            + minimal_json(root, properties.get(key, {}), separators, depth + 1)
            for key in required_keys(root, schema)
        ]
        return "{" + item_separator.join(fields) + "}"
    if "array" in types:
        count = int(schema.get("minItems", 0))
        items = (minimal_json(root, item_schema(root, schema, i), separators, depth + 1) for i in range(count))
        return "[" + item_separator.join(items) + "]"
    if "boolean" in types:
        return "false"
    if "integer" in types or "number" in types:
        minimum = schema.get("minimum", schema.get("exclusiveMinimum"))
        return str(int(minimum) + 1 if "exclusiveMinimum" in schema else minimum) if minimum and minimum > 0 else "0"
    return '""'
