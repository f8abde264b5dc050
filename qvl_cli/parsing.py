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
    """The decoded JSON value, or why there is none."""

    data: Any
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_answer(text: str) -> ParsedAnswer:
    """Decode the first JSON object in ``text`` (strict JSON: no raw control characters)."""
    stripped = text.strip()
    if not stripped:
        return ParsedAnswer(None, "the model returned an empty answer")
    candidates = [m.group(1) for m in _FENCE.finditer(stripped)] + [stripped]
    first_error = None
    for candidate in candidates:
        data, error = _first_object(candidate)
        if error is None:
            return ParsedAnswer(data)
        first_error = first_error or error
    return ParsedAnswer(None, first_error)


def _first_object(text: str) -> tuple[Any, str | None]:
    decoder = json.JSONDecoder(strict=True)
    starts = [i for i, ch in enumerate(text) if ch == "{"][:MAX_START_ATTEMPTS]
    if not starts:
        return None, "the answer contains no JSON object"
    first_error = None
    for start in starts:
        try:
            data, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            first_error = first_error or f"the answer is not valid JSON: {exc.msg} at character {exc.pos}"
            continue
        return data, None
    return None, first_error
