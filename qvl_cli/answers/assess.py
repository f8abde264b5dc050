"""Assess a model's answer: from its text to data with issues, warnings and confidence.

Parse the JSON (repairing an answer that was cut off), normalize declared values, validate,
apply the declared consistency rules, mark what was cut short, and score every field's confidence.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from qvl_cli.answers.consistency import consistency_warnings
from qvl_cli.answers.decoding import SEPARATORS, Closing
from qvl_cli.answers.jsonclose import complete
from qvl_cli.answers.jsonscan import ScanError, leaf_spans
from qvl_cli.answers.normalize import Normalized, normalize
from qvl_cli.answers.parsing import json_start, parse_answer
from qvl_cli.answers.validation import Issue, Validator
from qvl_cli.backends.contract import Generation
from qvl_cli.schemas import pointers
from qvl_cli.schemas.catalog import Schema

_CLOSING_REASONS = {"length": "budget", "repetition": "repetition"}
_CUT_MESSAGES = {
    "budget": "value cut short: the answer reached the --max-new-tokens budget",
    "repetition": "value cut short: the model was repeating itself and was stopped",
    "incomplete": "value cut short: the answer ended in the middle of the JSON",
}
_ADDED_MESSAGES = {
    "budget": "not extracted: the --max-new-tokens budget ran out first; filled with a minimal value",
    "repetition": "not extracted: the model was repeating itself and was stopped; filled with a minimal value",
    "incomplete": "not extracted: the answer ended in the middle of the JSON; filled with a minimal value",
}


@dataclass(frozen=True)
class AssessedAnswer:
    """One attempt's answer after parsing, normalization, validation and scoring."""

    text: str
    data: Any
    parsed: bool
    issues: tuple[Issue, ...]
    warnings: tuple[str, ...] = ()
    normalized: tuple[Normalized, ...] = ()
    confidence: dict[str, float] | None = None
    closing: Closing | None = None

    @property
    def valid(self) -> bool:
        return self.parsed and not self.issues

    @property
    def fixable_issues(self) -> list[Issue]:
        """Problems a second try could fix: not those of an answer cut off by the budget."""
        if self.closing is not None and self.closing.reason == "budget":
            return []
        return list(self.issues)


def assess_answer(
    generation: Generation, schema: Schema, validate: Validator, min_confidence: float | None = None
) -> AssessedAnswer:
    """Assess one generation (see the module docstring)."""
    text = generation.text
    parsed = parse_answer(text)
    closing = generation.closing
    if parsed.ok:
        data, start, json_text = parsed.data, parsed.start, text[parsed.start : parsed.end]
    else:
        repaired = repair(text, schema.document, generation.finish_reason, closing)
        if repaired is None:
            return AssessedAnswer(text, None, False, (Issue("", parsed.error or "no JSON in the answer"),))
        data, start, json_text, closing = repaired
    data, changes = normalize(data, schema.document)
    issues = validate(data) + truncation_issues(closing)
    confidence = None
    if generation.token_logprobs:
        confidence = field_confidence(generation, start, json_text, schema.document, closing)
    warnings = consistency_warnings(data, schema.document) + low_confidence_warnings(
        confidence, min_confidence, closing
    )
    return AssessedAnswer(text, data, True, tuple(issues), tuple(warnings), tuple(changes), confidence, closing)


def repair(
    text: str, schema: dict[str, Any], finish_reason: str, closing: Closing | None
) -> tuple[Any, int, str, Closing] | None:
    """Close a JSON answer that stopped early; ``None`` when the text is no JSON prefix."""
    start = json_start(text)
    if start is None:
        return None
    reason = closing.reason if closing else _CLOSING_REASONS.get(finish_reason, "incomplete")
    if reason == "incomplete" and not text[start + 1 :].strip():
        return None  # the model stopped on its own after a lone "{": it began no JSON, it wrote none
    try:
        completion = complete(text[start:], schema, SEPARATORS)
        json_text = text[start:] + completion.text
        data = json.loads(json_text)
    except (ScanError, json.JSONDecodeError):
        return None
    earlier_cut, earlier_added = (closing.cut, closing.added) if closing else ((), ())
    merged = Closing(reason, earlier_cut + completion.cut, earlier_added + completion.added)
    return data, start, json_text, merged


def truncation_issues(closing: Closing | None) -> list[Issue]:
    if closing is None:
        return []
    cut = [Issue(pointer, _CUT_MESSAGES[closing.reason]) for pointer in closing.cut]
    added = [Issue(pointer, _ADDED_MESSAGES[closing.reason]) for pointer in closing.added]
    return cut + added


def field_confidence(
    generation: Generation, start: int, json_text: str, schema: dict[str, Any], closing: Closing | None
) -> dict[str, float]:
    """Probability the model gave each leaf value: the product of its tokens' probabilities.

    A leaf's tokens are those whose text overlaps the leaf's text (for a string, its quotes
    included). Values that were cut short or filled in when the answer was closed get 0.
    """
    spans = generation.token_spans
    starts = [span[0] for span in spans]
    invented = (closing.cut + closing.added) if closing else ()
    written = len(generation.text)
    scores: dict[str, float] = {}
    for leaf in leaf_spans(json_text, schema):
        begin, end = start + leaf.start, start + leaf.end
        if end > written or any(pointers.is_within(leaf.pointer, pointer) for pointer in invented):
            scores[leaf.pointer] = 0.0
            continue
        logprob = 0.0
        for index in range(max(0, bisect_right(starts, begin) - 1), len(spans)):
            token_start, token_end = spans[index]
            if token_start >= end:
                break
            if token_end > begin and token_end > token_start:
                logprob += generation.token_logprobs[index]
        scores[leaf.pointer] = float(f"{math.exp(logprob):.4g}")
    return scores


LOW_CONFIDENCE = re.compile(r"^low confidence \S+ < \S+ at (.*)$")


def low_confidence_pointer(warning: str) -> str | None:
    """The pointer a warning of :func:`low_confidence_warnings` names (``None`` for other warnings)."""
    found = LOW_CONFIDENCE.match(warning)
    return None if found is None else ("" if found[1] == "/" else found[1])


def low_confidence_warnings(
    confidence: dict[str, float] | None, threshold: float | None, closing: Closing | None
) -> list[str]:
    if not confidence or threshold is None:
        return []
    invented = (closing.cut + closing.added) if closing else ()
    return [
        f"low confidence {score:.2f} < {threshold:.2f} at {pointer or '/'}"
        for pointer, score in confidence.items()
        if score < threshold and not any(pointers.is_within(pointer, other) for other in invented)
    ]
