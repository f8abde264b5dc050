"""Field-level accuracy of extractions against ground truth.

Each leaf of the gold data is a field, named by its JSON Pointer with list indices as ``*``
(``/line_items/*/amount``). A predicted value that matches a non-null gold value is a true
positive; a wrong value counts as both a false positive and a false negative; a value where gold
has none is a false positive; a missing value where gold has one is a false negative. Both null
counts for exact match only.

Values compare by type: numbers within a tolerance, dates after normalization to ISO 8601,
strings after whitespace and case folding (optionally by similarity), lists of objects (line
items) as sets, paired by optimal assignment.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from qvl_cli.answers.normalize import parse_amount, parse_date
from qvl_cli.schemas import pointers


@dataclass(frozen=True)
class CompareOptions:
    tolerance: float = 0.01  # absolute, for numbers
    similarity: float = 1.0  # strings match when difflib's ratio reaches this (1.0: exactly)


@dataclass
class FieldScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    exact: int = 0
    seen: int = 0

    # A ratio over nothing is undefined (``None``, shown as "n/a"), never a perfect score.
    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def exact_match(self) -> float | None:
        return self.exact / self.seen if self.seen else None

    def add(self, other: FieldScore) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.exact += other.exact
        self.seen += other.seen

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": _rounded(self.precision),
            "recall": _rounded(self.recall),
            "f1": _rounded(self.f1),
            "exact_match": _rounded(self.exact_match),
        }


def _rounded(ratio: float | None) -> float | None:
    return None if ratio is None else round(ratio, 4)


@dataclass(frozen=True)
class Difference:
    pointer: str
    gold: Any
    predicted: Any


@dataclass
class Evaluation:
    fields: dict[str, FieldScore] = field(default_factory=lambda: defaultdict(FieldScore))
    documents: int = 0
    exact_documents: int = 0
    differences: dict[str, list[Difference]] = field(default_factory=dict)

    def overall(self) -> FieldScore:
        total = FieldScore()
        for score in self.fields.values():
            total.add(score)
        return total

    def to_dict(self, with_differences: bool = False) -> dict[str, Any]:
        report: dict[str, Any] = {
            "documents": self.documents,
            "document_exact_match": round(self.exact_documents / self.documents, 4) if self.documents else None,
            "overall": self.overall().to_dict(),
            "fields": {name: score.to_dict() for name, score in sorted(self.fields.items())},
        }
        if with_differences:
            report["differences"] = {
                doc: [{"field": d.pointer, "gold": d.gold, "predicted": d.predicted} for d in diffs]
                for doc, diffs in self.differences.items()
            }
        return report


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def values_match(gold: Any, predicted: Any, options: CompareOptions) -> bool:
    """Typed equality of two leaf values (see the module docstring)."""
    if is_empty(gold) or is_empty(predicted):
        return is_empty(gold) and is_empty(predicted)
    gold_number, predicted_number = _as_number(gold), _as_number(predicted)
    if gold_number is not None and predicted_number is not None:
        return math.isclose(gold_number, predicted_number, abs_tol=options.tolerance)
    if isinstance(gold, str) and isinstance(predicted, str):
        gold_date, predicted_date = parse_date(gold), parse_date(predicted)
        if gold_date is not None and predicted_date is not None:
            return gold_date == predicted_date
        a, b = _fold(gold), _fold(predicted)
        if options.similarity >= 1.0:
            return a == b
        return difflib.SequenceMatcher(None, a, b).ratio() >= options.similarity
    return bool(gold == predicted)


_AMOUNT = re.compile(r"[^\w]{0,3}[A-Z]{0,3}\s*[-(]?\s*\d[\d.,' ]*\)?-?\s*[A-Z]{0,3}[^\w]{0,3}")


def _as_number(value: Any) -> float | None:
    """A number, or a string that is only an amount ("9.00", "EUR 1.234,50"); else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _AMOUNT.fullmatch(value.strip()) and parse_date(value) is None:
        parsed = parse_amount(value)
        return float(parsed) if parsed is not None else None
    return None


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def compare_documents(gold: Any, predicted: Any, options: CompareOptions, name: str, result: Evaluation) -> None:
    """Score one document into ``result``."""
    scorer = _DocumentScorer(options)
    scorer.compare(gold, predicted, "", "")
    for template, score in scorer.scores.items():
        result.fields[template].add(score)
    result.documents += 1
    result.exact_documents += not scorer.differences
    if scorer.differences:
        result.differences[name] = scorer.differences


@dataclass
class _DocumentScorer:
    """Walks gold and prediction together, counting per field template."""

    options: CompareOptions
    scores: dict[str, FieldScore] = field(default_factory=lambda: defaultdict(FieldScore))
    differences: list[Difference] = field(default_factory=list)

    def compare(self, gold: Any, predicted: Any, pointer: str, template: str) -> None:
        if isinstance(gold, dict):
            other = predicted if isinstance(predicted, dict) else {}
            for key in gold:
                self.compare(gold[key], other.get(key), pointers.child(pointer, key), pointers.child(template, key))
        elif isinstance(gold, list) and (gold or isinstance(predicted, list)):
            self.compare_lists(gold, predicted if isinstance(predicted, list) else [], pointer, template)
        else:
            self.compare_leaf(gold, predicted, pointer, template)

    def compare_leaf(self, gold: Any, predicted: Any, pointer: str, template: str) -> None:
        score = self.scores[template]
        score.seen += 1
        match = values_match(gold, predicted, self.options)
        score.exact += match
        if match:
            score.tp += not is_empty(gold)
            return
        self.differences.append(Difference(pointer, gold, predicted))
        score.fn += not is_empty(gold)
        score.fp += not is_empty(predicted)

    def compare_lists(self, gold: list[Any], predicted: list[Any], pointer: str, template: str) -> None:
        """Pair items by optimal assignment (most matching leaves), then compare the pairs."""
        pairs = dict(optimal_assignment([[_leaf_agreement(g, p, self.options) for p in predicted] for g in gold]))
        for i, item in enumerate(gold):
            j = pairs.get(i)
            self.compare(item, predicted[j] if j is not None else None, f"{pointer}/{i}", f"{template}/*")
        paired = set(pairs.values())
        for j, extra in enumerate(predicted):
            if j in paired:
                continue
            for leaf_template, value in pointers.leaves(extra, f"{template}/*", any_index="*"):
                if not is_empty(value):
                    self.scores[leaf_template].fp += 1
                    self.differences.append(Difference(f"{pointer}/+{j}", None, value))


def _leaf_agreement(gold: Any, predicted: Any, options: CompareOptions) -> float:
    gold_leaves = dict(pointers.leaves(gold, any_index="*"))
    predicted_leaves = dict(pointers.leaves(predicted, any_index="*"))
    return float(sum(values_match(v, predicted_leaves.get(k), options) for k, v in gold_leaves.items()))


def optimal_assignment(weights: list[list[float]]) -> list[tuple[int, int]]:
    """Row-column pairs maximizing the total weight (Hungarian algorithm; rectangular allowed)."""
    rows = len(weights)
    cols = len(weights[0]) if rows else 0
    if not rows or not cols:
        return []
    size = max(rows, cols)
    top = max((w for row in weights for w in row), default=0.0)
    cost = [[top - (weights[i][j] if i < rows and j < cols else 0.0) for j in range(size)] for i in range(size)]
    u, v = [0.0] * (size + 1), [0.0] * (size + 1)
    match, way = [0] * (size + 1), [0] * (size + 1)
    for i in range(1, size + 1):
        match[0] = i
        j0 = 0
        minv = [math.inf] * (size + 1)
        used = [False] * (size + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = match[j0], math.inf, 0
            for j in range(1, size + 1):
                if not used[j]:
                    current = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if current < minv[j]:
                        minv[j], way[j] = current, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(size + 1):
                if used[j]:
                    u[match[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if match[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            match[j0] = match[j1]
            j0 = j1
    return sorted((match[j] - 1, j - 1) for j in range(1, size + 1) if match[j] - 1 < rows and j - 1 < cols)
