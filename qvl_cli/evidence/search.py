"""Search a document page by page: every page is read, searched for every value, and dropped
before the next, so a 300-page document holds one page's text at a time, never all of it.

What a value's search keeps gives exactly what one search over all pages at once would give: the
text as printed (``normalized``) before the value, exact occurrences anywhere before fuzzy ones,
numbers and dates in page order.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from qvl_cli.evidence.forms import CURRENCY_SIGNS, fold, iso_date
from qvl_cli.evidence.matching import (
    Hit,
    PageIndex,
    find_date,
    find_exact,
    find_fuzzy,
    find_lookalike,
    find_number,
    find_sign,
    fuzzy_allowed,
    word_breaks,
)


class StringSearch:
    """Exact occurrences of a string on every page so far, else its fuzzy ones (kept only while
    no page has it exactly)."""

    def __init__(self, needle: str, fuzzy: bool = True) -> None:
        self.folded, origin = fold(needle)
        self.breaks = word_breaks(origin)
        self.fuzzy = fuzzy and fuzzy_allowed(self.folded)
        self.alike = fuzzy and not self.fuzzy  # short codes: only glyphs misread as their lookalikes
        self.exact: list[Hit] = []
        self.near: list[Hit] = []

    def add(self, page: PageIndex) -> None:
        if not self.folded:
            return
        self.exact += find_exact(self.folded, [page], self.breaks)
        if self.fuzzy and not self.exact:
            self.near += find_fuzzy(self.folded, [page])
        elif self.alike and not self.exact:
            self.near += find_lookalike(self.folded, [page], self.breaks)

    def hits(self) -> list[Hit]:
        return self.exact or self.near


class ValueSearch:
    """Every place one value is printed (``printed``: the text as the model wrote it, tried first)."""

    def __init__(self, value: Any, printed: str | None = None, fuzzy: bool = True) -> None:
        self.value = value
        self.printed_text = printed
        self.printed = StringSearch(printed, fuzzy) if printed is not None and printed != value else None
        self.number = float(value) if isinstance(value, int | float) and locatable(value) else None
        self.date = iso_date(value) if isinstance(value, str) else None
        self.text: StringSearch | None = None
        if isinstance(value, str) and locatable(value):
            self.text = StringSearch(value, fuzzy=fuzzy and self.date is None)
        self.as_date = printed_date(value) if self.date is None and self.text is not None else None
        self.found: list[Hit] = []  # numbers or dates
        self.dated: list[Hit] = []  # a string that is a date as printed, found as a date
        self.currency = value if isinstance(value, str) and value in CURRENCY_SIGNS else None
        self.signs: list[Hit] = []  # a currency code found as its sign

    def add(self, page: PageIndex) -> None:
        if not locatable(self.value):
            return
        if self.printed is not None:
            self.printed.add(page)
        if self.number is not None:
            self.found += find_number(self.number, [page])
        elif self.date is not None:
            self.found += find_date(self.date, [page])
        if self.text is not None:
            self.text.add(page)
        if self.as_date is not None:
            self.dated += find_date(self.as_date, [page])
        if self.currency is not None:
            self.signs += find_sign(self.currency, [page])

    def hits(self) -> list[Hit]:
        if self.printed is not None and (printed := self.printed.hits()):
            return printed
        if self.number is not None:
            return sorted(self.found, key=lambda hit: hit.page)  # stable: page order, then line order
        if self.date is not None:
            return sorted(self.found, key=lambda hit: hit.page) + (self.text.hits() if self.text else [])
        text = self.text.hits() if self.text else []
        return text or sorted(self.dated, key=lambda hit: hit.page) or sorted(self.signs, key=lambda hit: hit.page)


def printed_date(value: Any) -> dt.date | None:
    """The date a string is as the document printed it ("February 25, 1998", "8/ 7/ 87"), to be
    found in whatever form OCR read it; ``None`` for a string that is no date."""
    from qvl_cli.answers.normalize import parse_date

    if not isinstance(value, str) or sum(c.isdigit() for c in value) < 3:
        return None
    return parse_date(" ".join(value.split()).replace("/ ", "/").replace(" /", "/"))


class LabelSearch:
    """Exact occurrences of label words (a property's name or description), page by page."""

    def __init__(self, words: dict[Any, list[str]]) -> None:
        self.words = words
        self.found: dict[str, StringSearch] = {
            word: StringSearch(word, fuzzy=False) for words in words.values() for word in words
        }

    def add(self, page: PageIndex) -> None:
        for search in self.found.values():
            search.add(page)

    def hits(self, key: Any) -> list[Hit]:
        return [hit for word in self.words.get(key, []) for hit in self.found[word].hits()]


def locatable(value: Any) -> bool:
    """Whether a value is printed text at all (booleans and blanks are judgements, not text)."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    return isinstance(value, str) and bool(value.strip())
