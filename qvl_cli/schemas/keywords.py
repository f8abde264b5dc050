"""qvl's own schema keywords (``x-qvl-*``), and schemas without them for readers that do not know them."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

PREFIX = "x-qvl-"
INFERRED = f"{PREFIX}inferred"  # ``true``: the value is judged, not printed (a language code): never located
# Keywords whose value maps names to subschemas: their keys are names, never keywords.
_NAMED_SUBSCHEMAS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"})
# Keywords whose value is data, copied as it is.
_DATA = frozenset({"const", "enum", "default", "examples"})


def is_qvl_keyword(key: str) -> bool:
    return key.startswith(PREFIX)


def without_qvl_keywords(schema: Any, also: Collection[str] = ()) -> Any:
    """A copy of ``schema`` without qvl's ``x-qvl-*`` keywords, nor the keywords named in ``also``.

    Property names and data (``const``, ``enum``...) are kept whatever they are called.
    """
    return _strip(schema, frozenset(also))


def _strip(node: Any, also: frozenset[str]) -> Any:
    if isinstance(node, list):
        return [_strip(item, also) for item in node]
    if not isinstance(node, dict):
        return node
    kept: dict[str, Any] = {}
    for key, value in node.items():
        if is_qvl_keyword(key) or key in also:
            continue
        if key in _DATA:
            kept[key] = value
        elif key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
            kept[key] = {name: _strip(subschema, also) for name, subschema in value.items()}
        else:
            kept[key] = _strip(value, also)
    return kept
