"""Walk a JSON Schema alongside a value (references, unions, properties, items) and build its
smallest instance."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from qvl_cli.schemas import pointers

# A JSON Schema or one of its subschemas, as parsed JSON (the loaded file is catalog.Schema).
SchemaNode = dict[str, Any]


def resolve(root: SchemaNode, schema: Any) -> SchemaNode:
    """Follow local ``$ref`` pointers (``#/$defs/axis``)."""
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 32:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            return {}
        try:  # the fragment of a URI: percent-encoded, then a JSON Pointer
            found, schema = pointers.resolve(root, unquote(ref[1:]))
        except ValueError:  # a named anchor (``#foo``), not a pointer
            return {}
        if not found:
            return {}
        seen += 1
    return schema if isinstance(schema, dict) else {}


def branches(root: SchemaNode, schema: Any) -> list[SchemaNode]:
    resolved = resolve(root, schema)
    options = resolved.get("anyOf") or resolved.get("oneOf")
    if isinstance(options, list):
        return [branch for option in options for branch in branches(root, option)]
    return [resolved]


def types_of(schema: SchemaNode) -> set[str]:
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


def branch_of_kind(root: SchemaNode, schema: SchemaNode, kind: str) -> SchemaNode:
    """The branch of a union schema that describes a value of ``kind``."""
    for branch in branches(root, schema):
        if kind in types_of(branch):
            return branch
    return {}


def property_schema(root: SchemaNode, schema: SchemaNode, key: str) -> SchemaNode:
    resolved = resolve(root, schema)
    properties = resolved.get("properties", {})
    if key in properties:
        return resolve(root, properties[key])
    extra = resolved.get("additionalProperties")
    return resolve(root, extra) if isinstance(extra, dict) else {}


def item_schema(root: SchemaNode, schema: SchemaNode, index: int) -> SchemaNode:
    resolved = resolve(root, schema)
    prefix = resolved.get("prefixItems")
    if isinstance(prefix, list) and index < len(prefix):
        return resolve(root, prefix[index])
    items = resolved.get("items")
    return resolve(root, items) if isinstance(items, dict) else {}


def required_keys(root: SchemaNode, schema: SchemaNode) -> list[str]:
    required = resolve(root, schema).get("required", [])
    return [str(key) for key in required] if isinstance(required, list) else []


def minimal_instance(schema: SchemaNode) -> Any:
    """The smallest value of a schema's shape: nulls where allowed, empty arrays, zeros."""
    return json.loads(minimal_json(schema, schema))


def minimal_json(root: SchemaNode, schema: Any, separators: tuple[str, str] = (", ", ": "), depth: int = 0) -> str:
    """Shortest JSON text of a value that has the schema's shape (null wherever allowed)."""
    options = [_minimal_branch_json(root, branch, separators, depth) for branch in branches(root, schema)]
    return min(options, key=len) if options else "null"


def _minimal_branch_json(root: SchemaNode, schema: SchemaNode, separators: tuple[str, str], depth: int) -> str:
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
