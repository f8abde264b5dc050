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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from qvl_cli.evidence.matching import Hit, PageIndex
from qvl_cli.evidence.reread import Regions, SecondLook
from qvl_cli.evidence.search import LabelSearch, ValueSearch, locatable
from qvl_cli.evidence.text import Box, PageText
from qvl_cli.evidence.unsearched import NO_TEXT, NOT_SEARCHED, may_be_on, unsearched_warning
from qvl_cli.schemas.keywords import INFERRED as KEYWORD
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
INFERRED = {"inferred": True}  # the evidence of a value the schema marks as inferred: not looked for
NOT_ON_ORIGIN = "where it was read"
STOP_WORDS = {"with", "from", "this", "that", "when", "each", "other", "printed", "null", "iso", "8601"}


@dataclass(frozen=True)
class Evidence:
    """The evidence map of one record, the values not found, and the values found only outside
    the pages they were read from (``origin``)."""

    evidence: dict[str, dict[str, Any] | None]
    missing: tuple[tuple[str, Any], ...]  # (pointer, value) of values not found on any page
    strays: tuple[tuple[str, int, tuple[int, int]], ...] = ()  # (pointer, page printed, origin pages)
    blind: tuple[int, ...] = ()  # pages that could not be searched (no text layer under --evidence text)
    unsearched: tuple[str, ...] = ()  # pointers of values not found that may be printed on those pages

    @property
    def located(self) -> int:
        """How many values cite a place in the document."""
        return sum(entry is not None and "page" in entry for entry in self.evidence.values())

    @property
    def warnings(self) -> tuple[str, ...]:
        missing = tuple(not_found_message(pointer, value) for pointer, value in self.missing)
        blind = (unsearched_warning(self.blind, len(self.unsearched)),) if self.unsearched else ()
        return missing + tuple(stray_message(*stray) for stray in self.strays) + blind


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
    reread: Regions | None = None,
) -> Evidence:
    """Evidence for every non-null leaf of ``data`` (booleans and empty strings are judgements or
    blanks, not printed text: their evidence is null and they are not reported missing; values the
    ``schema`` marks ``x-qvl-inferred`` are not looked for: their evidence is ``{"inferred": true}``;
    a value not found that may be printed on a page without text, ``source`` "none", was never
    looked for: its evidence is ``{"searched": false}``, see :mod:`qvl_cli.evidence.unsearched`).

    ``pages`` is read once, one page at a time (a generator keeps one page in memory). With
    ``origin`` (pointer -> the pages ``[first, last]`` a value was read from, as in a windowed
    record), a value printed on several pages cites one among its origin pages, and a value printed
    only elsewhere is listed in ``strays``. With ``reread`` (see :mod:`qvl_cli.evidence.reread`),
    values not found in the pages' OCR are looked for again in regions read more closely.
    """
    every = list(_leaves(data, ()))
    inferred = {path for path, _ in every if schema is not None and _inferred(schema, path)}
    leaves = [(path, value) for path, value in every if path not in inferred]
    searches = {path: ValueSearch(value, _printed(path, normalized)) for path, value in leaves}
    labels = LabelSearch({path: _label_words(path, schema) for path, value in leaves if locatable(value)})
    look = SecondLook(reread) if reread is not None else None
    blind = []
    for page in pages:
        if page.source == NO_TEXT:
            blind.append(page.page)
        if not page.lines:
            continue
        index = PageIndex(page)
        for path, value_search in searches.items():
            value_search.add(index)
            if look is not None and locatable(value_search.value) and not value_search.hits():
                look.add(path, value_search.printed_text or _as_text(value_search.value), index)
        labels.add(index)
    order = {path: i for i, (path, _) in enumerate(leaves)}
    spans = {path: _span((origin or {}).get(join(path))) for path, _ in leaves}
    candidates = {path: _prefer_origin(search.hits(), spans[path]) for path, search in searches.items()}
    if look is not None:
        candidates.update(_look_again(look, searches, candidates, labels))
    anchors = _Anchors({path: labels.hits(path) for path in candidates if len(candidates[path]) > 1}, order)
    chosen = _choose(candidates, anchors)
    evidence: dict[str, dict[str, Any] | None] = {join(path): dict(INFERRED) for path in inferred}
    missing = []
    strays = []
    unsearched = []
    for path, value in leaves:
        hit = chosen.get(path)
        span = spans[path]
        evidence[join(path)] = _describe(hit) if hit else None
        if hit is None and locatable(value) and may_be_on(span, blind):
            evidence[join(path)] = dict(NOT_SEARCHED)
            unsearched.append(join(path))
        elif hit is None and locatable(value):
            missing.append((join(path), value))
        if hit is not None and span is not None and not span[0] <= hit.page <= span[1]:
            strays.append((join(path), hit.page, span))
    ordered = {join(path): evidence[join(path)] for path, _ in every}  # in the data's order
    return Evidence(ordered, tuple(missing), tuple(strays), tuple(blind), tuple(unsearched))


def _look_again(
    look: SecondLook, searches: dict[Path, ValueSearch], candidates: dict[Path, list[Hit]], labels: LabelSearch
) -> dict[Path, list[Hit]]:
    """Hits found by a closer look for the values not found, near their labels and near the
    values of their own object found in one place only."""
    missing = {path: search for path, search in searches.items() if locatable(search.value) and not candidates[path]}
    if not missing:
        return {}
    anchors = {
        path: [hits[0] for other, hits in candidates.items() if other[:-1] == path[:-1] and len(hits) == 1]
        + labels.hits(path)
        for path in missing
    }
    return look.find(missing, anchors)


def _as_text(value: Any) -> str:
    """A value as text to compare with printed lines (``7.5`` -> ``7.50``, ``12.0`` -> ``12``)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


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


def _inferred(schema: dict[str, Any], path: Path) -> bool:
    """Whether the schema marks the value at ``path``, or a value holding it, as inferred rather
    than printed (``"x-qvl-inferred": true``)."""
    node = resolve(schema, schema)
    for part in path:
        if node.get(KEYWORD) is True:
            return True
        node = item_schema(schema, node, part) if isinstance(part, int) else property_schema(schema, node, part)
    return node.get(KEYWORD) is True


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
    own = [[_Own.of(path, hit, fixed, anchors, used) for hit in candidates[path]] for path in paths]
    spread = max(1, len(fixed) + len(paths) - 1)
    best: tuple[_Own, ...] = ()
    lowest = math.inf
    for members in itertools.product(*own):  # the first of the cheapest, as min() would take
        cost = _members_cost(members, anchors, spread)
        if cost < lowest or not best:
            best, lowest = members, cost
    return {member.path: member.hit for member in best}, lowest


def _cost(combo: dict[Path, Hit], fixed: list[tuple[Path, Hit]], anchors: _Anchors, used: set[Any]) -> float:
    """Lower is better: weaker matches, far from labels and siblings, places already cited."""
    members = tuple(_Own.of(path, hit, fixed, anchors, used) for path, hit in combo.items())
    return _members_cost(members, anchors, max(1, len(fixed) + len(members) - 1))


@dataclass(frozen=True)
class _Own:
    """What a value's cost at one place owes to that place alone, worked out once however many
    combinations the place is tried in (the sums in the same order, so costs are the same to
    the last bit)."""

    path: Path
    hit: Hit
    match: float  # the match's strength (and being alone on its line)
    label: float | None  # distance to its nearest label
    reused: bool  # cites characters a value placed before cites
    fixed: float  # distances to the object's values already placed, summed

    @classmethod
    def of(cls, path: Path, hit: Hit, fixed: list[tuple[Path, Hit]], anchors: _Anchors, used: set[Any]) -> _Own:
        labels = anchors.labels.get(path)
        label = min(_distance(hit, place) for place in labels) if labels else None
        near = sum(_ordered_distance(anchors.order, path, hit, other, h) for other, h in fixed)
        return cls(path, hit, hit.score + (ALONE if hit.whole else 0.0), label, not hit.cells.isdisjoint(used), near)


def _members_cost(members: tuple[_Own, ...], anchors: _Anchors, spread: int) -> float:
    reused = [member.reused for member in members]
    near = [member.fixed for member in members]  # each pair of values counted once, by the first
    for position, member in enumerate(members):
        for later in range(position + 1, len(members)):
            other = members[later]
            if not member.hit.cells.isdisjoint(other.hit.cells):
                reused[position] = reused[later] = True
            near[position] += _ordered_distance(anchors.order, member.path, member.hit, other.path, other.hit)
    cost = 0.0
    for member, cites_used, distance in zip(members, reused, near, strict=True):
        cost -= member.match
        if member.label is not None:
            cost += member.label
        if cites_used:
            cost += REUSED
        cost += distance / spread
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
