"""Find where a value is printed: exact, then fuzzy, over one to a few consecutive lines.

A page's lines are searched alone and in short runs, both in reading order and down a column
(the next line below that overlaps horizontally), so values printed over several lines (an
address over three) are found even beside a second column. Strings are compared on their
case-folded letters and digits and must start and end on word boundaries. Fuzzy matching
survives OCR noise but is strict enough that values the page does not hold are not "found":
it needs eight or more letters and digits, allows one edit per eight, never changes a digit,
and is not used for mostly-numeric strings (identifiers, where one digit is a different value):
those may differ only by a glyph OCR confuses with its lookalike (``0`` and ``O``), never by a digit.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from qvl_cli.evidence.forms import date_tokens, fold, means_number, number_tokens, sign_spans
from qvl_cli.evidence.text import Box, Line, PageText, union

MAX_LINES = 8  # a value may span this many printed lines (a paragraph, an address)
FUZZY_MIN_LENGTH = 8
FUZZY_CHARS_PER_EDIT = 8
FUZZY_MIN_LETTERS = 5
NUMBER_JOINERS = "./:-"  # "151/15", "1.5", "12:30": a number does not end at these
OCR_GLUED_MIN = 6  # OCR often drops spaces: strings this long need no word boundary there
LOOKALIKE_MIN_LENGTH = 4
LOOKALIKE_CHARS_PER_EDIT = 8  # one lookalike glyph, and one more per this many characters

_PUNCTUATION = " .,:;_-#*()[]'\"/"
Segment = tuple[int, int, int]  # line index, start, end (characters of that line)


@dataclass(frozen=True)
class Hit:
    """One place a value is printed: per line, the characters that print it."""

    page: int
    source: str
    segments: tuple[Segment, ...]
    boxes: tuple[Box, ...]
    text: str
    score: float
    whole: bool = False  # the match is all the letters and digits of its lines (a label alone)

    @cached_property
    def box(self) -> Box:
        return union(self.boxes)

    @cached_property
    def cells(self) -> frozenset[tuple[int, int, int]]:
        """The printed characters this hit cites: (page, line, character)."""
        return frozenset((self.page, line, i) for line, start, end in self.segments for i in range(start, end))


@dataclass(frozen=True)
class _Window:
    lines: tuple[int, ...]
    folded: str
    starts: tuple[int, ...]  # offset of each line's folded text in ``folded``


@dataclass(eq=False)
class PageIndex:
    """A page's lines prepared for searching (folded once, windows built once)."""

    page: PageText
    _folds: list[tuple[str, list[int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._folds = [fold(line.text) for line in self.page.lines]
        self.boxes = [line.box for line in self.page.lines]
        self.order = rows_order(self.boxes)

    @cached_property
    def numbers(self) -> list[tuple[int, int, int, set[float]]]:
        """Every printed number on the page: line, span and what it can mean."""
        return [
            (index, *token)
            for index, line in enumerate(self.lines)
            if any(c.isdigit() for c in line.text)
            for token in number_tokens(line.text)
        ]

    @cached_property
    def dates(self) -> list[tuple[int, int, int, set[dt.date]]]:
        return [
            (index, *token)
            for index, line in enumerate(self.lines)
            if any(c.isdigit() for c in line.text)
            for token in date_tokens(line.text)
        ]

    @property
    def lines(self) -> tuple[Line, ...]:
        return self.page.lines

    @cached_property
    def windows(self) -> list[_Window]:
        """Runs of 1..MAX_LINES lines, in reading order and down columns, without repeats."""
        runs: dict[tuple[int, ...], None] = {}
        count = len(self.lines)
        below = [self._line_below(i) for i in range(count)]
        for order in (list(range(count)), self.order):  # as the page lists them, and by rows
            for position in range(count):
                for k in range(1, min(MAX_LINES, count - position) + 1):
                    runs.setdefault(tuple(order[position : position + k]), None)
        for i in range(count):
            chain = [i]
            while len(chain) < MAX_LINES and (following := below[chain[-1]]) is not None and following not in chain:
                chain.append(following)
                runs.setdefault(tuple(chain), None)
        return [self._window(run) for run in runs]

    def _window(self, run: tuple[int, ...]) -> _Window:
        starts, parts, offset = [], [], 0
        for index in run:
            starts.append(offset)
            parts.append(self._folds[index][0])
            offset += len(self._folds[index][0])
        return _Window(run, "".join(parts), tuple(starts))

    def _line_below(self, index: int) -> int | None:
        """The nearest line under ``index`` that overlaps it horizontally (same column)."""
        x0, y0, x1, y1 = self.boxes[index]
        height = max(y1 - y0, 1e-4)
        best, best_gap = None, 2.5 * height
        for other, (ox0, oy0, ox1, _) in enumerate(self.boxes):
            gap = oy0 - y1
            if other == index or oy0 < y0 + 0.5 * height or gap > best_gap:
                continue
            if min(x1, ox1) - max(x0, ox0) > 0 or abs(ox0 - x0) < 2 * height:
                best, best_gap = other, gap
        return best

    def line_span(self, window: _Window, start: int, end: int) -> tuple[Segment, ...]:
        """Map folded characters ``[start, end)`` of a window to per-line character spans."""
        segments = []
        first = bisect_right(window.starts, start) - 1
        last = bisect_right(window.starts, end - 1) - 1
        for position in range(first, last + 1):
            line = window.lines[position]
            origin = self._folds[line][1]
            lo = max(start - window.starts[position], 0)
            hi = min(end - window.starts[position], len(origin))
            if hi > lo:
                segments.append((line, origin[lo], origin[hi - 1] + 1))
        return tuple(segments)

    def hit(self, segments: tuple[Segment, ...], score: float) -> Hit:
        boxes = tuple(union(self.lines[line].chars[start:end]) for line, start, end in segments)
        text = "\n".join(self.lines[line].text[start:end] for line, start, end in segments)
        source = self.lines[segments[0][0]].source or self.page.source
        whole = all(
            not (self.lines[line].text[:start] + self.lines[line].text[end:]).strip(_PUNCTUATION)
            for line, start, end in segments
        )
        return Hit(self.page.page, source, segments, boxes, text, score, whole)


def rows_order(boxes: list[Box]) -> list[int]:
    """Line indices in reading order: rows top to bottom (lines whose middles lie within a row's
    band share it, as OCR often splits a row in pieces), each row left to right."""
    rows: list[tuple[float, float, list[int]]] = []
    for index in sorted(range(len(boxes)), key=lambda i: (boxes[i][1] + boxes[i][3]) / 2):
        x0, y0, x1, y1 = boxes[index]
        middle = (y0 + y1) / 2
        if rows and rows[-1][0] <= middle <= rows[-1][1]:
            rows[-1][2].append(index)
        else:
            rows.append((y0, y1, [index]))
    return [i for _, _, members in rows for i in sorted(members, key=lambda i: boxes[i][0])]


def find_text(needle: str, pages: list[PageIndex], fuzzy: bool = True) -> list[Hit]:
    """Where a string is printed: every exact occurrence, else the fuzzy ones. A value printed
    over several lines must break where it has a space or a sign (``New York | 10103``), never
    inside a word or a number."""
    folded, origin = fold(needle)
    if not folded:
        return []
    hits = find_exact(folded, pages, word_breaks(origin))
    if hits or not fuzzy or not fuzzy_allowed(folded):
        return hits
    return find_fuzzy(folded, pages)


def word_breaks(origin: list[int]) -> set[int]:
    """Where a folded string may break across lines: the offsets a space or a sign was dropped at."""
    return {k for k in range(1, len(origin)) if origin[k] - origin[k - 1] > 1}


def find_exact(folded: str, pages: list[PageIndex], breaks: set[int]) -> list[Hit]:
    """Every exact occurrence of an already folded string, breaking across lines only at ``breaks``."""
    return _unique(hit for page in pages for hit in _exact(page, folded, breaks))


def find_fuzzy(folded: str, pages: list[PageIndex]) -> list[Hit]:
    """The fuzzy occurrences of an already folded string (see :func:`fuzzy_allowed`)."""
    return _unique(hit for page in pages for hit in _fuzzy(page, folded))


def find_lookalike(folded: str, pages: list[PageIndex], breaks: set[int]) -> list[Hit]:
    """Occurrences of a short or mostly-digit string that OCR misread only by glyphs that look
    alike (``IAN12 1999`` for ``JAN 1 2 1999``, ``B0X 4O1`` for ``BOX 401``): at most one such
    character per ``LOOKALIKE_CHARS_PER_EDIT``, every other character exact, and never a digit read
    as another digit. Strings of fewer than ``LOOKALIKE_MIN_LENGTH`` letters and digits are found
    exactly or not at all, and a text layer's characters are what is printed: only OCR lines."""
    if len(folded) < LOOKALIKE_MIN_LENGTH:
        return []
    allowed = max(1, len(folded) // LOOKALIKE_CHARS_PER_EDIT)
    pattern = re.compile("(?=(" + "".join(f"[{re.escape(c + LOOKALIKES.get(c, ''))}]" for c in folded) + "))")
    hits = []
    for page in (page for page in pages if page.page.source == "ocr"):
        for window in page.windows:
            for match in pattern.finditer(window.folded):
                start, end = match.start(1), match.end(1)
                changed = sum(a != b for a, b in zip(folded, match.group(1), strict=True))
                if changed > allowed:
                    continue
                segments = page.line_span(window, start, end)
                if (
                    _spans_window(segments, window)
                    and _breaks_between_words(window, start, end, breaks)
                    and _on_word_boundaries(page, segments)
                ):
                    hits.append(page.hit(segments, round(1 - changed / len(folded), 3)))
    return _unique(iter(hits))


def fuzzy_allowed(folded: str) -> bool:
    """Fuzzy search needs a long enough string with enough letters (digits are never edited, so
    an identifier of digits and a letter or two is found exactly or not at all)."""
    letters = sum(c.isalpha() for c in folded)
    return len(folded) >= FUZZY_MIN_LENGTH and letters >= FUZZY_MIN_LETTERS


def find_number(value: float, pages: list[PageIndex]) -> list[Hit]:
    found = [
        (page, line, start, end)
        for page in pages
        for line, start, end, readings in page.numbers
        if means_number(readings, value)
    ]
    return [page.hit(((line, start, end),), 1.0) for page, line, start, end in sorted(set(found), key=_order)]


def find_date(value: dt.date, pages: list[PageIndex]) -> list[Hit]:
    """Where a date is printed; bare digits (20240314) rank below dates with separators."""
    found = [(page, line, start, end) for page in pages for line, start, end, days in page.dates if value in days]
    hits = [page.hit(((line, start, end),), 1.0) for page, line, start, end in sorted(set(found), key=_order)]
    return [replace(hit, score=0.9) if hit.text.isdigit() else hit for hit in hits]


def find_sign(code: str, pages: list[PageIndex]) -> list[Hit]:
    """Where a currency code is printed as its sign (``€`` for ``EUR``), the first sign of a line."""
    found = [
        (page, index, *next(iter(spans)))
        for page in pages
        for index, line in enumerate(page.lines)
        if (spans := list(sign_spans(line.text, code)))
    ]
    return [page.hit(((line, start, end),), 1.0) for page, line, start, end in found]


def _order(item: tuple[PageIndex, int, int, int]) -> tuple[int, int, int, int]:
    page, line, start, end = item
    return page.page.page, line, start, end


def _exact(page: PageIndex, needle: str, breaks: set[int]) -> Iterator[Hit]:
    for window in page.windows:
        start = window.folded.find(needle)
        while start >= 0:
            segments = page.line_span(window, start, start + len(needle))
            if (
                _spans_window(segments, window)
                and _breaks_between_words(window, start, start + len(needle), breaks)
                and _on_word_boundaries(page, segments, _from_ocr(page, segments) and len(needle) >= OCR_GLUED_MIN)
            ):
                yield page.hit(segments, 1.0)
            start = window.folded.find(needle, start + 1)


def _breaks_between_words(window: _Window, start: int, end: int, breaks: set[int]) -> bool:
    """Each line break inside a match falls where the value has a space or a sign."""
    return all(offset - start in breaks for offset in window.starts[1:] if start < offset < end)


def _fuzzy(page: PageIndex, needle: str) -> Iterator[Hit]:
    from rapidfuzz import fuzz
    from rapidfuzz.distance import Levenshtein

    allowed = len(needle) // FUZZY_CHARS_PER_EDIT
    for window in page.windows:
        hay = window.folded
        if len(hay) < len(needle) - allowed:
            continue
        alignment = fuzz.partial_ratio_alignment(needle, hay, score_cutoff=100 * (1 - 2 * allowed / len(needle)))
        if alignment is None:
            continue
        start, end = _refine(needle, hay, alignment.dest_start, alignment.dest_end, allowed, Levenshtein)
        edits = ocr_edits(needle, hay[start:end])
        if edits > allowed:
            continue
        segments = page.line_span(window, start, end)
        if _spans_window(segments, window):
            yield page.hit(segments, round(1 - edits / len(needle), 3))


def _refine(needle: str, hay: str, start: int, end: int, allowed: int, levenshtein: Any) -> tuple[int, int]:
    """The slice of ``hay`` near ``[start, end)`` closest to ``needle`` by edit distance."""
    best = (len(needle) + len(hay), start, end)
    for s in range(max(0, start - allowed), min(len(hay), start + allowed) + 1):
        for e in range(max(s + 1, end - allowed), min(len(hay), end + allowed) + 1):
            distance = levenshtein.distance(needle, hay[s:e])
            if (distance, e - s) < (best[0], best[2] - best[1]):
                best = (distance, s, e)
    return best[1], best[2]


# Letters OCR reads in place of a digit; any other change to a digit makes a different value.
DIGIT_LOOKALIKES = {
    "0": "odq",
    "1": "lijt",
    "2": "z",
    "4": "a",
    "5": "s",
    "6": "bg",
    "7": "t",
    "8": "b",
    "9": "gq",
}


def _lookalikes() -> dict[str, str]:
    """Per character, the characters OCR reads in its place: a digit's letters (and back), and
    letters that look like the same digit (``i``, ``j``, ``l`` like ``1``)."""
    alike: dict[str, set[str]] = {}
    for digit, letters in DIGIT_LOOKALIKES.items():
        group = set(letters)
        alike.setdefault(digit, set()).update(group)
        for letter in group:
            kin = group & set(LETTER_LOOKALIKES) if letter in LETTER_LOOKALIKES else set()
            alike.setdefault(letter, set()).update({digit} | kin - {letter})
    return {char: "".join(sorted(others)) for char, others in alike.items()}


LETTER_LOOKALIKES = "ijloq"  # letters that may stand for one another where they look like one digit
LOOKALIKES = _lookalikes()


def ocr_edits(needle: str, found: str) -> float:
    """Edit distance where no digit may be dropped, added or read as another digit (only as a
    letter that looks like it): OCR misreads glyphs, but a different number is a different value.
    Infinite when ``found`` cannot be ``needle`` misread."""
    inf = float("inf")
    previous = [0.0] + [inf if found[j - 1].isdigit() else float(j) for j in range(1, len(found) + 1)]
    for i in range(1, len(needle) + 1):
        a = needle[i - 1]
        row = [inf if a.isdigit() else previous[0] + 1]
        for j in range(1, len(found) + 1):
            b = found[j - 1]
            if a == b:
                substitute = previous[j - 1]
            elif a.isdigit() or b.isdigit():
                digit, other = (a, b) if a.isdigit() else (b, a)
                substitute = previous[j - 1] + 1 if other in DIGIT_LOOKALIKES.get(digit, "") else inf
            else:
                substitute = previous[j - 1] + 1
            delete = inf if a.isdigit() else previous[j] + 1
            insert = inf if b.isdigit() else row[j - 1] + 1
            row.append(min(substitute, delete, insert))
        previous = row
    return previous[-1]


def _spans_window(segments: tuple[Segment, ...], window: _Window) -> bool:
    """A match must use the window's first and last line (else a shorter window has it)."""
    return bool(segments) and segments[0][0] == window.lines[0] and segments[-1][0] == window.lines[-1]


def _from_ocr(page: PageIndex, segments: tuple[Segment, ...]) -> bool:
    return (page.lines[segments[0][0]].source or page.page.source) == "ocr"


def _on_word_boundaries(page: PageIndex, segments: tuple[Segment, ...], glued: bool = False) -> bool:
    """The match neither starts nor ends inside a word or a number: a digit may touch a letter
    (OCR glues "PAGES:2HARD"), never another digit or a number it is part of ("151/15",
    "1.5"); a letter never touches a letter, unless ``glued`` (OCR drops spaces: a long value
    may touch the next word)."""
    first_line, start, _ = segments[0]
    last_line, _, end = segments[-1]
    first_text, last_text = page.lines[first_line].text, page.lines[last_line].text
    before = first_text[max(0, start - 2) : start][::-1]
    after = last_text[end : end + 2]
    return _apart(before, first_text[start], glued) and _apart(after, last_text[end - 1], glued)


def _apart(outside: str, edge: str, glued: bool) -> bool:
    """``outside``: the characters next to the match, nearest first; ``edge``: the match's own."""
    if not outside or not outside[0].isalnum():
        part_of_number = edge.isdigit() and outside[:1] in tuple(NUMBER_JOINERS) and outside[1:2].isdigit()
        return not part_of_number
    if edge.isdigit() and outside[0].isdigit():
        return False
    return glued or edge.isdigit() != outside[0].isdigit()


def _unique(hits: Iterator[Hit]) -> list[Hit]:
    found: dict[tuple[int, tuple[Segment, ...]], Hit] = {}
    for hit in hits:
        found.setdefault((hit.page, hit.segments), hit)
    return list(found.values())
