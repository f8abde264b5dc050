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


def top_level_starts(text: str, begin: int, end: int) -> list[int]:
    """Positions of ``{`` in ``text[begin:end]`` that no earlier ``{`` encloses.

    Braces inside JSON strings do not count. An object that is still open where the region ends
    (an answer cut off) encloses every later brace, so its inner objects are never candidates.
    """
    starts: list[int] = []
    depth, in_string, escaped = 0, False, False
    for i in range(begin, end):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"' and depth:
            in_string = True
        elif ch in "{[":
            if depth == 0 and ch == "{":
                starts.append(i)
            depth += 1 if depth or ch == "{" else 0
        elif ch in "}]" and depth:
            depth -= 1
    return starts


def _first_object(text: str, begin: int, end: int) -> ParsedAnswer:
    """The first top-level object of the region that parses; never an object nested in an
    earlier one (a cut-off answer is repaired instead, not replaced by one of its parts)."""
    decoder = json.JSONDecoder(strict=True)
    region = text[:end]
    starts = top_level_starts(text, begin, end)[:MAX_START_ATTEMPTS]
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
