"""JSON Schemas: built-ins by name, or a user's file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qvl_cli.errors import SchemaError
from qvl_cli.schemas import pointers
from qvl_cli.schemas.keywords import without_qvl_keywords
from qvl_cli.schemas.resources import builtin_names, data_dir

SUFFIX = ".json"


@dataclass(frozen=True)
class Schema:
    """A loaded JSON Schema and where it came from."""

    name: str
    document: dict[str, Any]
    source: str  # "builtin" or the file path
    sha256: str

    @property
    def description(self) -> str:
        return str(self.document.get("description", "")).strip()

    @property
    def prompt_text(self) -> str:
        """The schema as the model reads it: qvl's own ``x-qvl-*`` keywords left out."""
        return json.dumps(without_qvl_keywords(self.document), indent=2, ensure_ascii=False)


def builtin_schema_names() -> list[str]:
    return builtin_names("schemas", SUFFIX)


def load_schema(ref: str) -> Schema:
    """Load a built-in schema by name (``invoice``) or a schema file by path."""
    path = Path(ref)
    if ref in builtin_schema_names():
        return _read(data_dir("schemas") / f"{ref}{SUFFIX}", name=ref, source="builtin")
    if path.suffix or path.exists():
        return _read(path, name=path.stem, source=str(path))
    known = ", ".join(builtin_schema_names())
    raise SchemaError(f"unknown schema {ref!r}", hint=f"built-in schemas: {known}; or pass a .json file")


def _read(path: Path, name: str, source: str) -> Schema:
    from jsonschema import Draft202012Validator
    from jsonschema import SchemaError as JsonSchemaError
    from jsonschema.validators import validator_for

    from qvl_cli.runs.sources import Expected, parse_json, read_input

    expected = Expected("schema", "a JSON Schema", SCHEMA_HINT, SchemaError)
    raw = read_input(path, expected)
    document = parse_json(raw, str(path), expected)
    if not isinstance(document, dict):
        raise SchemaError("schema must be a JSON object", path=path)
    try:
        validator_for(document, default=Draft202012Validator).check_schema(document)
    except JsonSchemaError as exc:
        raise SchemaError(f"not a valid JSON Schema: {schema_problem(exc)}", path=path) from None
    return Schema(name, document, source, hashlib.sha256(raw).hexdigest())


SCHEMA_HINT = "-s takes a built-in schema name, as qvl schemas lists them, or a JSON Schema file"
NAMED_SCHEMAS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")


def schema_problem(exc: Any) -> str:
    """jsonschema's complaint about a schema, said at the JSON Pointer of the bad keyword (``at
    /properties/total/type``); a misspelt type names the types there are."""
    path, message = list(exc.absolute_path), exc.message
    named = len(path) > 1 and path[-2] in NAMED_SCHEMAS  # a property called "type", not the keyword
    if path and path[-1] == "type" and not named and isinstance(exc.instance, str | list):
        given = exc.instance if isinstance(exc.instance, list) else [exc.instance]
        unknown = [(index, name) for index, name in enumerate(given) if name not in TYPES]
        if unknown:
            index, name = unknown[0]
            path += [index] if isinstance(exc.instance, list) else []
            message = f"{name!r} is not a type (types: {', '.join(TYPES)})"
    return f"{message} at {pointers.join(path) or '/'}"
