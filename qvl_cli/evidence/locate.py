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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from qvl_cli.evidence.matching import Hit, PageIndex
from qvl_cli.evidence.search import LabelSearch, ValueSearch, locatable
from qvl_cli.evidence.text import Box, PageText
from qvl_cli.schemas.navigation import item_schema, property_schema, resolve
from qvl_cli.schemas.pointers import join

Path = tuple[str | int, ...]
OTHER_PAGE = 2.0  # distance between boxes on different pages
REUSED = 0.1  # penalty for citing a place another value already cites
GENERIC_WORDS = {"key", "value", "label", "name", "text", "data", "item", "items", "fields", "field", "the", "and"}
NOT_FOUND = "does not appear in the document"
NOT_ON_ORIGIN = "where it was read"
STOP_WORDS = {"with", "from", "this", "that", "when", "each", "other", "printed", "null", "iso", "8601"}


@dataclass(frozen=True)
class Evidence:
    """The evidence map of one record, the values not found, and the values found only outside
    the pages they were read from (``origin``)."""

    evidence: dict[str, dict[str, Any] | None]
    missing: tuple[tuple[str, Any], ...]  # (pointer, value) of values not found on any page
    strays: tuple[tuple[str, int, tuple[int, int]], ...] = ()  # (pointer, page printed, origin pages)

    @property
    def warnings(self) -> tuple[str, ...]:
        missing = tuple(not_found_message(pointer, value) for pointer, value in self.missing)
        return missing + tuple(stray_message(*stray) for stray in self.strays)


def not_found_message(pointer: str, value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)
    if len(shown) > 60:
        shown = shown[:57] + '..."'
    return f"{pointer} {shown} {NOT_FOUND}"


def stray_message(pointer: str, page: int, origin: tuple[int, int]) -> str:
    return f"{pointer} is printed on page {page}, not on pages {origin[0]}-{origin[1]} {NOT_ON_ORIGIN}"


def locate(
    data: Any,
    pages: Iterable[PageText],
    schema: dict[str, Any] | None = None,
    normalized: dict[str, Any] | None = None,
    origin: dict[str, Any] | None = None,
) -> Evidence:
    """Evidence for every non-null leaf of ``data`` (booleans and empty strings are judgements or
    blanks, not printed text: their evidence is null and they are not reported missing).

    ``pages`` is read once, one page at a time (a generator keeps one page in memory). With
    ``origin`` (pointer -> the pages ``[first, last]`` a value was read from, as in a windowed
    record), a value printed on several pages cites one among its origin pages, and a value printed
    only elsewhere is listed in ``strays``.
    """
    leaves = list(_leaves(data, ()))
    searches = {path: ValueSearch(value, _printed(path, normalized)) for path, value in leaves}
    labels = LabelSearch({path: _label_words(path, schema) for path, value in leaves if locatable(value)})
    for page in pages:
        if not page.lines:
            continue
        index = PageIndex(page)
        for value_search in searches.values():
            value_search.add(index)
        labels.add(index)
    spans = {path: _span((origin or {}).get(join(path))) for path, _ in leaves}
    candidates = {path: _prefer_origin(search.hits(), spans[path]) for path, search in searches.items()}
    chosen = _choose(candidates, {path: labels.hits(path) for path in candidates if len(candidates[path]) > 1})
    evidence: dict[str, dict[str, Any] | None] = {}
    missing = []
    strays = []
    for path, value in leaves:
        hit = chosen.get(path)
        evidence[join(path)] = _describe(hit) if hit else None
        if hit is None and locatable(value):
            missing.append((join(path), value))
        span = spans[path]
        if hit is not None and span is not None and not span[0] <= hit.page <= span[1]:
            strays.append((join(path), hit.page, span))
    return Evidence(evidence, tuple(missing), tuple(strays))


def search(value: Any, pages: list[PageIndex], printed: str | None = None) -> list[Hit]:
    """Every place ``value`` is printed (``printed``: the text as written, tried first)."""
    found = ValueSearch(value, printed)
    for page in pages:
        found.add(page)
    return found.hits()


def _printed(path: Path, normalized: dict[str, Any] | None) -> str | None:
    raw = (normalized or {}).get(join(path), {})
    printed = raw.get("raw") if isinstance(raw, dict) else None
    return printed if isinstance(printed, str) else None


def _span(pages: Any) -> tuple[int, int] | None:
    """An origin entry ``[first, last]`` as a pair (``None`` when absent or not two page numbers)."""
    if isinstance(pages, list | tuple) and len(pages) == 2 and all(isinstance(p, int) for p in pages):
        return pages[0], pages[1]
    return None


def _prefer_origin(hits: list[Hit], span: tuple[int, int] | None) -> list[Hit]:
    """The occurrences on the pages a value was read from, when it is printed there at all."""
    if span is None:
        return hits
    inside = [hit for hit in hits if span[0] <= hit.page <= span[1]]
    return inside or hits


def _leaves(data: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, (*path, index))
    elif data is not None:
        yield path, data


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
