"""Find the JSON object in a model's answer: bare, fenced in Markdown, or after some prose."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
MAX_START_ATTEMPTS = 32


@dataclass(frozen=True)
class ParsedAnswer:
    """The decoded JSON value and where its text lies in the answer, or why there is none."""

    data: Any
    error: str | None = None
    start: int = 0
    end: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_answer(text: str) -> ParsedAnswer:
    """Decode the first JSON object in ``text`` (strict JSON: no raw control characters)."""
    if not text.strip():
        return ParsedAnswer(None, "the model returned an empty answer")
    regions = [(m.start(1), m.end(1)) for m in _FENCE.finditer(text)] + [(0, len(text))]
    first_error = None
    for begin, end in regions:
        parsed = _first_object(text, begin, end)
        if parsed.ok:
            return parsed
        first_error = first_error or parsed.error
    return ParsedAnswer(None, first_error)


def json_start(text: str) -> int | None:
    """Where the first JSON object in ``text`` begins, if anywhere."""
    index = text.find("{")
    return index if index >= 0 else None


def _first_object(text: str, begin: int, end: int) -> ParsedAnswer:
    decoder = json.JSONDecoder(strict=True)
    region = text[:end]
    starts = [i for i in range(begin, end) if text[i] == "{"][:MAX_START_ATTEMPTS]
    if not starts:
        return ParsedAnswer(None, "the answer contains no JSON object")
    first_error = None
    for start in starts:
        try:
            data, stop = decoder.raw_decode(region, start)
        except json.JSONDecodeError as exc:
            first_error = first_error or f"the answer is not valid JSON: {exc.msg} at character {exc.pos}"
            continue
        return ParsedAnswer(data, None, start, stop)
    return ParsedAnswer(None, first_error)
