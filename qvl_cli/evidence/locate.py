"""A record's data -> where each value is printed (its evidence) and which values are not.

Every string and number leaf of the data is searched on the document's pages (see
:mod:`qvl_cli.evidence.matching`); where normalization kept the text as the model wrote it, that
is searched first. A value printed in several places cites the one nearest its label (words of
its property name, else of its description) and nearest the values beside it in the same object
(a form field's value near its key, a line item's amount near its description).
"""

from __future__ import annotations

import itertools
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
REUSED = 0.25  # penalty for citing characters another value already cites
BEFORE = 0.1  # penalty for a value printed before the value that precedes it in its object
ALONE = 0.05  # preference for a value printed alone on its line over one inside running text
MAX_COMBINATIONS = 4096  # an object's ambiguous values are placed together up to this many ways
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
    chosen = _choose(candidates, _Anchors(labels, {path: i for i, path in enumerate(candidates)}))
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
    return find_text(value, pages) or _as_printed_date(value, pages)


def _as_printed_date(value: str, pages: list[PageIndex]) -> list[Hit]:
    """A string that is a date as the document printed it ("February 25, 1998", "8/7/87"),
    found in whatever form OCR read it ("Fcbruary25,1998" misses, "25 Feb 1998" does not)."""
    from qvl_cli.answers.normalize import parse_date

    if sum(c.isdigit() for c in value) < 3:
        return []
    date = parse_date(" ".join(value.split()).replace("/ ", "/").replace(" /", "/"))
    return find_date(date, pages) if date is not None else []


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


@dataclass(frozen=True)
class _Anchors:
    """What places a value: its label's places, and the order of values in the data."""

    labels: dict[Path, list[Hit]]
    order: dict[Path, int]


def _choose(candidates: dict[Path, list[Hit]], anchors: _Anchors) -> dict[Path, Hit]:
    """One hit per value: unambiguous values first; then, object by object in document order,
    the places of its ambiguous values chosen together, nearest their
    labels and each other (a form field's value to the right of or below its key), avoiding
    places other values already cite."""
    chosen: dict[Path, Hit] = {path: hits[0] for path, hits in candidates.items() if len(hits) == 1}
    pending: dict[Path, list[Path]] = {}
    for path, hits in candidates.items():
        if len(hits) > 1:
            pending.setdefault(path[:-1], []).append(path)
    used: set[Any] = {cell for hit in chosen.values() for cell in hit.cells}
    twins: dict[Any, list[list[Path]]] = {}
    for paths in pending.values():
        twins.setdefault(_signature(paths, candidates, chosen), []).append(paths)
    for group in twins.values():
        picks = []
        for paths in group:  # objects that cannot be told apart take the best places...
            best = _best_places(paths, candidates, anchors, chosen, used)[0]
            picks.append(list(best.values()))
            used.update(cell for hit in best.values() for cell in hit.cells)
        picks.sort(key=lambda hits: min((hit.page, hit.box[1], hit.box[0]) for hit in hits))
        for paths, hits in zip(group, picks, strict=True):  # ...in the order they are listed
            chosen.update(zip(paths, hits, strict=True))
    return chosen


def _signature(paths: list[Path], candidates: dict[Path, list[Hit]], chosen: dict[Path, Hit]) -> Any:
    """What an object's ambiguous values can cite, given its fixed values: objects alike in this
    (two table rows printing the same values) are told apart only by their order."""
    fixed = tuple(sorted((other[-1], _place(hit)) for other, hit in chosen.items() if other[:-1] == paths[0][:-1]))
    return tuple((path[-1], tuple(_place(hit) for hit in candidates[path])) for path in paths), fixed


def _best_places(
    paths: list[Path],
    candidates: dict[Path, list[Hit]],
    anchors: _Anchors,
    chosen: dict[Path, Hit],
    used: set[Any],
) -> tuple[dict[Path, Hit], float]:
    """The places of an object's ambiguous values that cost least together (every combination
    when there are few, else one value at a time)."""
    fixed = [(other, hit) for other, hit in chosen.items() if other[:-1] == paths[0][:-1]]
    if math.prod(len(candidates[path]) for path in paths) > MAX_COMBINATIONS:
        picked: dict[Path, Hit] = {}
        for path in paths:
            placed = fixed + list(picked.items())
            picked[path] = min(candidates[path], key=lambda hit: _cost({path: hit}, placed, anchors, used))
        return picked, _cost(picked, fixed, anchors, used)
    combos = (dict(zip(paths, hits, strict=True)) for hits in itertools.product(*(candidates[p] for p in paths)))
    scored = ((combo, _cost(combo, fixed, anchors, used)) for combo in combos)
    return min(scored, key=lambda item: item[1])


def _cost(combo: dict[Path, Hit], fixed: list[tuple[Path, Hit]], anchors: _Anchors, used: set[Any]) -> float:
    """Lower is better: weaker matches, far from labels and siblings, places already cited."""
    cost = 0.0
    members = list(combo.items())
    for position, (path, hit) in enumerate(members):
        cost -= hit.score + (ALONE if hit.whole else 0.0)
        if anchors.labels.get(path):
            cost += min(_distance(hit, label) for label in anchors.labels[path])
        others = [h for other, h in members if other != path]
        if not hit.cells.isdisjoint(used) or any(not hit.cells.isdisjoint(h.cells) for h in others):
            cost += REUSED
        pairs = [*fixed, *members[position + 1 :]]  # each pair of values counted once
        cost += sum(_ordered_distance(anchors.order, path, hit, other, h) for other, h in pairs) / max(
            1, len(fixed) + len(members) - 1
        )
    return cost


def _ordered_distance(order: dict[Path, int], path: Path, hit: Hit, other: Path, other_hit: Hit) -> float:
    """Distance between two values of one object, more when the later one is printed before
    the earlier (values follow their keys: to the right, or below)."""
    distance = _distance(hit, other_hit)
    first, second = (other_hit, hit) if order[other] < order[path] else (hit, other_hit)
    if first.page == second.page and _printed_before(second.box, first.box):
        distance += BEFORE
    return distance


def _printed_before(a: Box, b: Box) -> bool:
    """``a`` lies above ``b``, or left of it on the same row."""
    same_row = min(a[3], b[3]) - max(a[1], b[1]) > 0.5 * min(a[3] - a[1], b[3] - b[1])
    return a[2] <= b[0] if same_row else a[3] <= b[1]


def _place(hit: Hit) -> tuple[int, tuple[Any, ...]]:
    return hit.page, hit.segments


def _distance(a: Hit, b: Hit) -> float:
    if a.page != b.page:
        return OTHER_PAGE
    return _box_distance(a.box, b.box)


def _box_distance(a: Box, b: Box) -> float:
    """Gap between two boxes, vertical gaps counting double (labels sit beside values), and a
    little for middles out of line (of two places beside a label, the one on its row)."""
    dx = max(0.0, b[0] - a[2], a[0] - b[2])
    dy = max(0.0, b[1] - a[3], a[1] - b[3])
    return math.hypot(dx, 2 * dy) + 0.25 * abs((a[1] + a[3]) - (b[1] + b[3])) / 2


def _describe(hit: Hit) -> dict[str, Any]:
    return {
        "page": hit.page,
        "boxes": [[round(v, 4) for v in box] for box in hit.boxes],
        "text": hit.text,
        "source": hit.source,
        "score": round(hit.score, 3),
    }
