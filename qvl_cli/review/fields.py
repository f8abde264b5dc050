"""The fields of one record as a tree that follows its data, each leaf with what backs it.

Objects become groups, arrays of objects become tables (one column per key), other arrays
lists. Every leaf carries its JSON Pointer, display value, printed text (when normalized),
confidence, evidence and the errors and warnings that name it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

POINTER_IN_TEXT = re.compile(r"(?<![\w~/-])(/[\w~./-]*)")


@dataclass(frozen=True)
class Box:
    """A rectangle on a page as fractions of its rendered size, origin top-left."""

    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class Evidence:
    """Where a value is printed: a page, boxes on it, the text as printed."""

    page: int
    boxes: tuple[Box, ...]
    text: str | None = None
    source: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class Field:
    """One row of the review: a leaf of the data (or an empty container)."""

    pointer: str
    label: str
    value: str
    kind: str  # string | number | boolean | null | empty
    printed: str | None
    confidence: float | None
    low: bool
    evidence: Evidence | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    inferred: bool = False  # the schema says it is judged, not printed: no box is expected

    @property
    def seen(self) -> str | None:
        """The text found on the page, when it says more than the value and its printed form."""
        if self.evidence is None or not self.evidence.text:
            return None
        found = _squeeze(self.evidence.text)
        if found in (_squeeze(self.value), _squeeze(self.printed or "")):
            return None
        return self.evidence.text

    @property
    def located(self) -> bool:
        return self.evidence is not None and bool(self.evidence.boxes)

    @property
    def unlocated(self) -> bool:
        """A value that is there but has no box on a page (and should have one)."""
        return self.kind not in ("null", "empty") and not self.located and not self.inferred

    @property
    def level(self) -> str:
        if self.confidence is None:
            return "none"
        if self.low:
            return "low"
        return "high" if self.confidence >= 0.9 else "mid"


@dataclass(frozen=True)
class Node:
    """A field, an object (``children``), a list (``children``) or a table (``columns`` x ``rows``)."""

    kind: str  # field | object | list | table
    label: str
    pointer: str
    field: Field | None = None
    children: tuple[Node, ...] = ()
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, tuple[Node | None, ...]], ...] = ()  # (item pointer, one cell per column)
    errors: tuple[str, ...] = ()  # errors about the container itself


@dataclass(frozen=True)
class Context:
    """What a record says about its fields, indexed by pointer."""

    confidence: Mapping[str, float]
    printed: Mapping[str, str]
    evidence: Mapping[str, Evidence]
    errors: Mapping[str, tuple[str, ...]]
    warnings: Mapping[str, tuple[str, ...]]
    threshold: float
    inferred: frozenset[str] = frozenset()  # pointers whose evidence is {"inferred": true}


def escape_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def unescape_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def build_tree(data: Any, context: Context) -> tuple[Node, ...]:
    """The top-level nodes for ``data`` (an object's properties, or one node for anything else)."""
    if data is None:
        return ()
    if isinstance(data, dict) and data:
        return tuple(_node(value, f"/{escape_token(key)}", key, context) for key, value in data.items())
    return (_node(data, "", "(answer)", context),)


def leaves(nodes: tuple[Node, ...]) -> Iterator[Field]:
    """Every field row under ``nodes``, in display order."""
    for node in nodes:
        if node.field is not None:
            yield node.field
        yield from leaves(node.children)
        for _, cells in node.rows:
            yield from leaves(tuple(cell for cell in cells if cell is not None))


def pointers(nodes: tuple[Node, ...]) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        found.add(node.pointer)
        found |= pointers(node.children)
        for item, cells in node.rows:
            found.add(item)
            found |= pointers(tuple(cell for cell in cells if cell is not None))
    return found


def _node(value: Any, pointer: str, label: str, context: Context) -> Node:
    errors = context.errors.get(pointer, ())
    if isinstance(value, dict) and value:
        children = tuple(_node(item, f"{pointer}/{escape_token(key)}", key, context) for key, item in value.items())
        return Node("object", label, pointer, children=children, errors=errors)
    if isinstance(value, list) and value:
        if all(isinstance(item, dict) and item for item in value):
            return _table(value, pointer, label, context)
        children = tuple(_node(item, f"{pointer}/{i}", f"#{i + 1}", context) for i, item in enumerate(value))
        return Node("list", label, pointer, children=children, errors=errors)
    return Node("field", label, pointer, field=_field(value, pointer, label, context))


def _table(items: list[dict[str, Any]], pointer: str, label: str, context: Context) -> Node:
    columns: list[str] = []
    for item in items:
        columns += [key for key in item if key not in columns]
    rows = []
    for i, item in enumerate(items):
        base = f"{pointer}/{i}"
        cells = tuple(
            _node(item[key], f"{base}/{escape_token(key)}", key, context) if key in item else None for key in columns
        )
        rows.append((base, cells))
    errors = context.errors.get(pointer, ())
    return Node("table", label, pointer, columns=tuple(columns), rows=tuple(rows), errors=errors)


def _field(value: Any, pointer: str, label: str, context: Context) -> Field:
    confidence = context.confidence.get(pointer)
    printed = context.printed.get(pointer)
    return Field(
        pointer=pointer,
        label=label,
        value=display(value),
        kind=_kind(value),
        printed=printed if printed is not None and printed != display(value) else None,
        confidence=confidence,
        low=confidence is not None and confidence < context.threshold,
        evidence=context.evidence.get(pointer),
        errors=context.errors.get(pointer, ()),
        warnings=context.warnings.get(pointer, ()),
        inferred=pointer in context.inferred,
    )


def display(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return "(empty)" if not value else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def _squeeze(text: str) -> str:
    """Text without whitespace and case, to compare what OCR read with a value."""
    return "".join(text.split()).casefold()


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list | dict):
        return "empty" if not value else "string"
    return "string"


def fields_of(record: Mapping[str, Any], threshold: float) -> tuple[Node, ...]:
    """The tree of a record's data, with confidence, printed text, evidence, errors and warnings."""
    data = record.get("data")
    confidence = {
        str(pointer): float(score) for pointer, score in (record.get("confidence") or {}).items() if _is_number(score)
    }
    printed = {
        str(pointer): display(entry.get("raw"))
        for pointer, entry in (record.get("normalized") or {}).items()
        if isinstance(entry, dict) and entry.get("raw") is not None
    }
    bare = Context(confidence, printed, parse_evidence(record.get("evidence")), {}, {}, threshold)
    known = pointers(build_tree(data, bare))
    issues = [
        (str(issue.get("path", "")), str(issue.get("message", "")))
        for issue in record.get("errors") or ()
        if isinstance(issue, dict)
    ]
    notes = [(pointer, text) for text in map(str, record.get("warnings") or ()) for pointer in mentioned(text, known)]
    evidence = record.get("evidence")
    inferred = frozenset(
        str(p) for p, entry in (evidence.items() if isinstance(evidence, dict) else ()) if _is_inferred(entry)
    )
    full = Context(confidence, printed, bare.evidence, attach(issues, known), attach(notes, known), threshold, inferred)
    return build_tree(data, full)


def _is_inferred(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("inferred") is True


def parse_evidence(raw: Any) -> dict[str, Evidence]:
    """The ``evidence`` map of a record; entries that are null or malformed are left out."""
    if not isinstance(raw, dict):
        return {}
    found = {}
    for pointer, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("page"), int):
            continue
        boxes = tuple(box for box in map(_box, entry.get("boxes") or ()) if box is not None)
        score = entry.get("score")
        found[str(pointer)] = Evidence(
            page=entry["page"],
            boxes=boxes,
            text=entry["text"] if isinstance(entry.get("text"), str) else None,
            source=entry["source"] if isinstance(entry.get("source"), str) else None,
            score=float(score) if _is_number(score) else None,
        )
    return found


def _box(raw: Any) -> Box | None:
    if not isinstance(raw, list | tuple) or len(raw) != 4 or not all(_is_number(v) for v in raw):
        return None
    x0, y0, x1, y1 = (min(1.0, max(0.0, float(v))) for v in raw)
    if x1 <= x0 or y1 <= y0:
        return None
    return Box(x0, y0, x1 - x0, y1 - y0)


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def attach(messages: list[tuple[str, str]], known: set[str]) -> dict[str, tuple[str, ...]]:
    """``(pointer, message)`` pairs grouped under the nearest pointer that has a row."""
    grouped: dict[str, list[str]] = {}
    for pointer, message in messages:
        target = pointer
        while target and target not in known:
            target = target.rsplit("/", 1)[0]
        if target in known:
            grouped.setdefault(target, []).append(message)
    return {pointer: tuple(found) for pointer, found in grouped.items()}


def mentioned(text: str, known: set[str]) -> list[str]:
    """The known pointers a warning names (``... at /line_items/0/amount``)."""
    return [match for match in POINTER_IN_TEXT.findall(text) if match in known]
