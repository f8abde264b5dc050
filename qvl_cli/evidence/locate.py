"""A record's data -> where each value is printed (its evidence) and which values are not.

Every string and number leaf of the data is searched on the document's pages (see
:mod:`qvl_cli.evidence.matching`); where normalization kept the text as the model wrote it, that
is searched first. A value printed in several places cites the one nearest its label (words of
its property name, else of its description) and nearest the values beside it in the same object
(a form field's value near its key, a line item's amount near its description).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from qvl_cli.evidence.forms import iso_date
from qvl_cli.evidence.matching import Hit, PageIndex, find_date, find_number, find_text
from qvl_cli.evidence.text import Box, PageText
from qvl_cli.schemas.navigation import item_schema, property_schema, resolve
from qvl_cli.schemas.pointers import join

Path = tuple[str | int, ...]
OTHER_PAGE = 2.0  # distance between boxes on different pages
REUSED = 0.1  # penalty for citing a place another value already cites
GENERIC_WORDS = {"key", "value", "label", "name", "text", "data", "item", "items", "fields", "field", "the", "and"}
NOT_FOUND = "does not appear in the document"
STOP_WORDS = {"with", "from", "this", "that", "when", "each", "other", "printed", "null", "iso", "8601"}


@dataclass(frozen=True)
class Evidence:
    """The evidence map of one record and the values not found."""

    evidence: dict[str, dict[str, Any] | None]
    missing: tuple[tuple[str, Any], ...]  # (pointer, value) of values not found on any page

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(not_found_message(pointer, value) for pointer, value in self.missing)


def not_found_message(pointer: str, value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)
    if len(shown) > 60:
        shown = shown[:57] + '..."'
    return f"{pointer} {shown} {NOT_FOUND}"


def locate(
    data: Any,
    pages: list[PageText] | tuple[PageText, ...],
    schema: dict[str, Any] | None = None,
    normalized: dict[str, Any] | None = None,
) -> Evidence:
    """Evidence for every non-null leaf of ``data`` (booleans and empty strings are judgements or
    blanks, not printed text: their evidence is null and they are not reported missing)."""
    indexes = [PageIndex(page) for page in pages if page.lines]
    leaves = list(_leaves(data, ()))
    candidates: dict[Path, list[Hit]] = {}
    for path, value in leaves:
        raw = (normalized or {}).get(join(path), {})
        printed = raw.get("raw") if isinstance(raw, dict) else None
        candidates[path] = search(value, indexes, printed if isinstance(printed, str) else None)
    labels = {path: _label_boxes(path, schema, indexes) for path in candidates if len(candidates[path]) > 1}
    chosen = _choose(candidates, labels)
    evidence: dict[str, dict[str, Any] | None] = {}
    missing = []
    for path, value in leaves:
        hit = chosen.get(path)
        evidence[join(path)] = _describe(hit) if hit else None
        if hit is None and _locatable(value):
            missing.append((join(path), value))
    return Evidence(evidence, tuple(missing))


def search(value: Any, pages: list[PageIndex], printed: str | None = None) -> list[Hit]:
    """Every place ``value`` is printed (``printed``: the text as written, tried first)."""
    if not _locatable(value):
        return []
    if printed is not None and printed != value and (hits := find_text(printed, pages)):
        return hits
    if isinstance(value, int | float):
        return find_number(float(value), pages)
    date = iso_date(value)
    if date is not None:
        return find_date(date, pages) + find_text(value, pages, fuzzy=False)
    return find_text(value, pages)


def _locatable(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    return isinstance(value, str) and bool(value.strip())


def _leaves(data: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, (*path, index))
    elif data is not None:
        yield path, data


def _label_boxes(path: Path, schema: dict[str, Any] | None, pages: list[PageIndex]) -> list[Hit]:
    words = _label_words(path, schema)
    return [hit for word in words for hit in find_text(word, pages, fuzzy=False)]


def _label_words(path: Path, schema: dict[str, Any] | None) -> list[str]:
    names = [part for part in path if isinstance(part, str)][-2:]
    words = [w for name in names for w in _split_name(name) if w not in GENERIC_WORDS and len(w) >= 3]
    if words or schema is None:
        return words
    description = str(_schema_at(schema, path).get("description", ""))
    found = [w for w in re.findall(r"[^\W\d_]{4,}", description.lower()) if w not in STOP_WORDS]
    return found[:3]


def _split_name(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [w.lower() for w in re.split(r"[\W_]+", spaced) if w]


def _schema_at(schema: dict[str, Any], path: Path) -> dict[str, Any]:
    node = resolve(schema, schema)
    for part in path:
        node = item_schema(schema, node, part) if isinstance(part, int) else property_schema(schema, node, part)
    return node


def _choose(candidates: dict[Path, list[Hit]], labels: dict[Path, list[Hit]]) -> dict[Path, Hit]:
    """One hit per value: unambiguous values first, then each ambiguous one nearest its label
    and its fixed siblings, avoiding places other values already cite."""
    chosen: dict[Path, Hit] = {path: hits[0] for path, hits in candidates.items() if len(hits) == 1}
    for _ in range(2):
        used = {(hit.page, hit.segments) for hit in chosen.values()}
        for path, hits in candidates.items():
            if len(hits) < 2:
                continue
            siblings = [hit for other, hit in chosen.items() if other[:-1] == path[:-1] and other != path]
            previous = chosen.get(path)
            taken = used - ({(previous.page, previous.segments)} if previous else set())
            best = max(hits, key=lambda hit: _merit(hit, labels.get(path, []), siblings, taken))
            chosen[path] = best
            used.add((best.page, best.segments))
    return chosen


def _merit(hit: Hit, labels: list[Hit], siblings: list[Hit], taken: set[Any]) -> float:
    merit = hit.score
    if labels:
        merit -= min(_distance(hit, label) for label in labels)
    if siblings:
        merit -= sum(_distance(hit, other) for other in siblings) / len(siblings)
    if (hit.page, hit.segments) in taken:
        merit -= REUSED
    return merit


def _distance(a: Hit, b: Hit) -> float:
    if a.page != b.page:
        return OTHER_PAGE
    return _box_distance(a.box, b.box)


def _box_distance(a: Box, b: Box) -> float:
    """Gap between two boxes, vertical gaps counting double (labels sit beside values)."""
    dx = max(0.0, b[0] - a[2], a[0] - b[2])
    dy = max(0.0, b[1] - a[3], a[1] - b[3])
    return math.hypot(dx, 2 * dy)


def _describe(hit: Hit) -> dict[str, Any]:
    return {
        "page": hit.page,
        "boxes": [[round(v, 4) for v in box] for box in hit.boxes],
        "text": hit.text,
        "source": hit.source,
        "score": round(hit.score, 3),
    }
