"""One answer from the answers of several windows of pages, following the schema.

- Objects merge key by key (the schema's property order first).
- Arrays are concatenated in page order. Where two neighbouring windows share pages, the items
  at the end of one that reappear at the start of the next (the shared pages read twice) are
  recognised and kept once, field by field from the more confident reading; an item one window
  saw only in part (cut at a page edge) matches its complete reading too.
- A scalar takes the value read with the highest confidence (then: read by the most windows,
  then the earliest); when windows read different values, the others are listed in a warning
  with their pages. ``null`` means "not on these pages" and never outvotes a value.

Every leaf of the result remembers which window's value it is (``sources``), so confidence,
page of origin and normalization records follow it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qvl_cli.schemas.navigation import SchemaNode, item_schema, property_schema, resolve
from qvl_cli.schemas.pointers import join

Source = tuple[int, str]  # (part index, JSON Pointer inside that part's data)


@dataclass(frozen=True)
class Part:
    """One window's answer: its pages (first, last), data, and confidence per JSON Pointer."""

    pages: tuple[int, int]
    data: Any
    confidence: dict[str, float] = field(default_factory=dict)


@dataclass
class Merged:
    """The merged data, where each leaf came from, and disagreements between windows."""

    data: Any = None
    sources: dict[str, Source] = field(default_factory=dict)  # merged pointer -> (part, pointer)
    warnings: list[str] = field(default_factory=list)

    def confidence(self, parts: Sequence[Part]) -> dict[str, float]:
        scores = {}
        for pointer, (index, inner) in self.sources.items():
            score = parts[index].confidence.get(inner)
            if score is not None:
                scores[pointer] = score
        return scores

    def origin(self, parts: Sequence[Part]) -> dict[str, list[int]]:
        """Each non-null leaf's pages ``[first, last]``: the window its value was read from."""
        return {
            pointer: list(parts[index].pages)
            for pointer, (index, inner) in self.sources.items()
            if _at(parts[index].data, inner) is not None
        }


def merge_parts(parts: Sequence[Part], schema: SchemaNode) -> Merged:
    """Merge the parts' data (in page order) into one answer; none at all (no window gave JSON)
    is no data."""
    if not parts:
        return Merged()
    context = _Context(schema, parts, Merged())
    readings = [(index, "", part.data) for index, part in enumerate(parts)]
    context.out.data = _merge(context, schema, (), readings)
    return context.out


Reading = tuple[int, str, Any]  # (part index, pointer in the part, value)
Location = tuple[str | int, ...]  # where in the merged data


@dataclass(frozen=True)
class _Context:
    """What every step of one merge shares: the root schema, the parts, the result being built."""

    root: SchemaNode
    parts: Sequence[Part]
    out: Merged


def _merge(context: _Context, schema: SchemaNode, path: Location, readings: list[Reading]) -> Any:
    values = [value for _, _, value in readings if value is not None]
    if values and all(isinstance(value, dict) for value in values):
        return _merge_object(context, schema, path, readings)
    if values and all(isinstance(value, list) for value in values):
        return _merge_array(context, schema, path, readings)
    return _merge_scalar(context, path, readings)


def _merge_object(context: _Context, schema: SchemaNode, path: Location, readings: list[Reading]) -> dict[str, Any]:
    root = context.root
    declared = resolve(root, schema).get("properties")
    keys = list(declared) if isinstance(declared, dict) else []
    for _, _, value in readings:
        if isinstance(value, dict):
            keys += [key for key in value if key not in keys]
    result = {}
    for key in keys:
        present = [
            (index, f"{pointer}/{_escape(key)}", value[key])
            for index, pointer, value in readings
            if isinstance(value, dict) and key in value
        ]
        if present:
            result[key] = _merge(context, property_schema(root, schema, key), (*path, key), present)
    return result


def _merge_array(context: _Context, schema: SchemaNode, path: Location, readings: list[Reading]) -> list[Any]:
    """Concatenate in part order; items repeated across shared pages become one item."""
    parts = context.parts
    items: list[list[Reading]] = []  # each merged item: its readings
    previous: tuple[int, int] | None = None  # (part index, number of items it added or matched)
    for index, pointer, value in readings:
        if not isinstance(value, list):
            continue
        current = [(index, f"{pointer}/{position}", item) for position, item in enumerate(value)]
        shared = 0
        if previous is not None and _share_pages(parts[previous[0]], parts[index]):
            tail = [group[-1][2] for group in items[len(items) - previous[1] :]]
            shared = _overlap(tail, [item for _, _, item in current])
        for offset in range(shared):
            items[len(items) - shared + offset].append(current[offset])
        items += [[reading] for reading in current[shared:]]
        previous = (index, len(current))
    return [
        _merge(context, item_schema(context.root, schema, position), (*path, position), group)
        for position, group in enumerate(items)
    ]


def _merge_scalar(context: _Context, path: Location, readings: list[Reading]) -> Any:
    parts, out = context.parts, context.out
    pointer = join(path)
    found = [reading for reading in readings if reading[2] is not None]
    if not found:
        best = max(readings, key=lambda r: parts[r[0]].confidence.get(r[1], 0.0))
        out.sources[pointer] = (best[0], best[1])
        return None
    groups: dict[str, list[Reading]] = {}
    for reading in found:
        groups.setdefault(_canonical(reading[2]), []).append(reading)

    def strength(group: list[Reading]) -> tuple[float, int, int, int]:
        longest = max(len(_canonical(r[2])) for r in group)  # a value cut at a page edge is shorter
        return (max(_score(parts, r) for r in group), len(group), longest, -group[0][0])

    ranked = sorted(groups.values(), key=strength, reverse=True)
    winner = max(ranked[0], key=lambda r: _score(parts, r))
    out.sources[pointer] = (winner[0], winner[1])
    others = [group for group in ranked[1:] if not agree(group[0][2], winner[2])]
    if others:
        out.warnings.append(_disagreement(pointer, winner, others, parts))
    return winner[2]


def _disagreement(pointer: str, kept: Reading, others: list[list[Reading]], parts: Sequence[Part]) -> str:
    def describe(reading: Reading) -> str:
        first, last = parts[reading[0]].pages
        score = parts[reading[0]].confidence.get(reading[1])
        sure = f", confidence {score:.2f}" if score is not None else ""
        return f"{json.dumps(reading[2], ensure_ascii=False)} (pages {first}-{last}{sure})"

    rest = "; ".join(describe(group[0]) for group in others)
    return f"windows disagree at {pointer or '/'}: kept {describe(kept)}; also read {rest}"


def _score(parts: Sequence[Part], reading: Reading) -> float:
    return parts[reading[0]].confidence.get(reading[1], 0.0)


def _share_pages(a: Part, b: Part) -> bool:
    return a.pages[0] <= b.pages[1] and b.pages[0] <= a.pages[1]


def _overlap(tail: list[Any], head: list[Any]) -> int:
    """The largest k such that the last k items of ``tail`` match the first k of ``head``."""
    for k in range(min(len(tail), len(head)), 0, -1):
        if all(same_item(a, b) for a, b in zip(tail[len(tail) - k :], head[:k], strict=True)):
            return k
    return 0


def same_item(a: Any, b: Any) -> bool:
    """Two readings of one item: equal after normalization, or objects that agree on every field
    both read (a string may be cut short), sharing at least half of the fields either read (one
    saw the item cut at a page edge)."""
    if _canonical(a) == _canonical(b):
        return True
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return False
    filled_a = {key for key, value in a.items() if value not in (None, "", [], {})}
    filled_b = {key for key, value in b.items() if value not in (None, "", [], {})}
    both = filled_a & filled_b
    if not both or 2 * len(both) < len(filled_a | filled_b):
        return False
    return all(agree(a[key], b[key]) for key in both)


def agree(a: Any, b: Any) -> bool:
    """Equal after normalization, or one string the start of the other (read cut short)."""
    first, second = _canonical(a), _canonical(b)
    if first == second:
        return True
    if isinstance(a, str) and isinstance(b, str):
        short, long = sorted((first[:-1], second[:-1]), key=len)  # without the closing quote
        return len(short) > 4 and long.startswith(short)
    return False


def _canonical(value: Any) -> str:
    """Comparison form: case and whitespace folded, numbers to cents."""
    if isinstance(value, str):
        return json.dumps(" ".join(value.casefold().split()))
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"{float(value):.2f}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_canonical(v)}" for k, v in sorted(value.items())) + "}"
    return json.dumps(str(value))


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _at(data: Any, pointer: str) -> Any:
    """The value at a JSON Pointer (``None`` when absent)."""
    for part in pointer.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data
