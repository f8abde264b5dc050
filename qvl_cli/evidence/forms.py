"""The printed forms of a value: where in a line of text a number, a date or a string appears.

qvl writes numbers as JSON numbers and dates as ISO 8601; on the page they are printed in many
ways (``1,234.50``, ``1.234,50``, ``$ 8.20``, ``RM31.60``; ``28/11/2022``, ``Jan 1, 2022``,
``29 maart 2014``, ``14. März 2024``). Each finder returns the character spans of a line that
print the value; strings are compared after case folding, with only letters and digits kept.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator

Span = tuple[int, int]

MONTHS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        [
            "january jan januar janv janvier enero ene januari gennaio genn janeiro styczen",
            "february feb februar fev fevr fevrier febrero februari febbraio feb fevereiro febr",
            "march mar marz maerz mars marzo maart mrt marco maa",
            "april apr avril abril aprile avr",
            "may mai mayo mei maggio maio mag",
            "june jun juni juin junio giugno junho",
            "july jul juli juil juillet julio luglio julho",
            "august aug aout agosto augustus ago",
            "september sep sept septembre septiembre settembre setembro set",
            "october oct oktober okt octobre octubre ottobre outubro ott out",
            "november nov novembre noviembre novembro",
            "december dec dezember dez decembre diciembre dicembre dezembro dic",
        ],
        start=1,
    )
    for name in names.split()
}
_MONTH_WORD = r"([^\W\d_]{3,10})\.?"
_YEAR = r"('?\d{2}|\d{4})"
_YEAR_END = r"(?:(?!\d)|(?<=\d{4})(?=\d{1,2}:\d{2}))"  # or a four-digit year runs into the time
_DATE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), order)
    for pattern, order in (
        (r"(?<!\d)(\d{4})\s?([-/.])\s?(\d{1,2})\s?\2\s?(\d{1,2})(?!\d)", "ysmd"),
        # A four-digit year may run into the time when OCR drops the space ("25/12/20188:13").
        (r"(?<!\d)(?<!\d[.,])(\d{1,2})\s?([-/.])\s?(\d{1,2})\s?\2\s?(\d{4})", "asay"),
        (r"(?<!\d)(?<!\d[.,])(\d{1,2})\s?([-/.])\s?(\d{1,2})\s?\2\s?(\d{2})(?!\d)", "asay"),
        (r"(?<!\d)(?<!\d[.,])(\d{1,2})([-/.])(\d{1,2})\2(\d{2})(?=\d{1,2}:\d{2})", "asay"),  # "17-03-1814:49"
        (r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)", "ymd"),
        (
            r"(?<!\d)(\d{1,2})(?:st|nd|rd|th|er|e|\.)?[\s,/-]*(?:de\s+)?"
            + _MONTH_WORD
            + r"[\s,/-]*(?:de\s+)?"
            + _YEAR
            + _YEAR_END,
            "dny",
        ),
        (_MONTH_WORD + r"[\s,/-]*(\d{1,2})(?:st|nd|rd|th)?[\s,/-]*" + _YEAR + _YEAR_END, "ndy"),
    )
)
# Amounts: digits with optional thousands groups (",", ".", "'", spaces) and decimals.
_NUMBER_PATTERNS = (
    re.compile(r"(?<![\d])\d{1,3}(?:[,.'\u00a0\u202f ]\d{3})+(?:[.,]\d{1,4})?(?!\d)"),
    re.compile(r"(?<![\d])\d+(?:[.,]\d{1,4})?(?!\d)"),
)


# The signs documents print for a currency instead of its ISO 4217 code: a code not printed itself
# is found as its sign ("$" is taken for USD alone: other dollars print a prefix, CA$ or A$).
CURRENCY_SIGNS = {
    "EUR": ("€",),
    "USD": ("US$", "$"),
    "GBP": ("£",),
    "JPY": ("¥", "円"),
    "CNY": ("¥", "元", "RMB"),
    "INR": ("₹", "Rs.", "Rs"),
    "MYR": ("RM",),
    "KRW": ("₩",),
    "RUB": ("₽",),
    "TRY": ("₺",),
    "ILS": ("₪",),
    "PHP": ("₱",),
    "THB": ("฿",),
    "VND": ("₫",),
    "NGN": ("₦",),
    "PLN": ("zł",),
}


def sign_spans(text: str, code: str) -> Iterator[Span]:
    """Where ``text`` prints the sign of the currency ``code`` (never inside a word: ``RM`` is not
    in ``RMB``, ``Rs`` not in ``Drs``)."""
    for sign in CURRENCY_SIGNS.get(code, ()):
        for match in re.finditer(rf"(?<![^\W\d_]){re.escape(sign)}(?![^\W\d_])", text):
            yield match.start(), match.end()


def fold(text: str) -> tuple[str, list[int]]:
    """Case-folded letters and digits of ``text`` (accents dropped), and for each folded
    character the index of the character of ``text`` it came from."""
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for part in unicodedata.normalize("NFKD", char).casefold():
            if part.isalnum():
                folded.append(part)
                origin.append(index)
    return "".join(folded), origin


def plain_word(text: str) -> str:
    """A word without accents, lower case (``März`` -> ``marz``)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text).casefold() if c.isalnum())


def number_spans(text: str, value: float) -> Iterator[Span]:
    """Spans of ``text`` printing the number ``value`` (its absolute value: signs and brackets
    vary too much in print to require them)."""
    for start, end, readings in number_tokens(text):
        if means_number(readings, value):
            yield start, end


def means_number(readings: set[float], value: float) -> bool:
    target = abs(value)
    return any(abs(reading - target) < 5e-7 * max(1.0, target) for reading in readings)


def number_tokens(text: str) -> Iterator[tuple[int, int, set[float]]]:
    """Every printed number of ``text``: its span and the numbers it can mean."""
    seen: set[Span] = set()
    for pattern in _NUMBER_PATTERNS:
        for match in pattern.finditer(text):
            span = (match.start(), match.end())
            if span in seen or _inside_date_or_longer(text, *span):
                continue
            seen.add(span)
            yield span[0], span[1], number_readings(match.group())


def _inside_date_or_longer(text: str, start: int, end: int) -> bool:
    """True when the token continues with a separator and more digits (25.12.2018, 1.2.3)."""
    after = text[end : end + 2]
    before = text[max(0, start - 2) : start]
    return bool(re.fullmatch(r"[.,/:-]\d", after) or re.fullmatch(r"\d[.,/:-]", before))


def number_readings(token: str) -> set[float]:
    """Every number a printed token can mean: "1,234" is 1234 or 1.234."""
    compact = re.sub(r"[\s'\u00a0\u202f]", "", token)
    readings = set()
    for decimal, group in ((".", ","), (",", ".")):
        whole, sep, fraction = compact.rpartition(decimal) if decimal in compact else (compact, "", "")
        if group in fraction:
            continue
        digits = whole.replace(group, "") if sep else compact.replace(group, "")
        if decimal in digits or not digits.isdigit():
            continue
        try:
            readings.add(float(f"{digits}.{fraction}" if sep else digits))
        except ValueError:
            continue
    return readings


def date_spans(text: str, value: dt.date) -> Iterator[Span]:
    """Spans of ``text`` printing the date ``value`` in any common order and language."""
    for start, end, readings in date_tokens(text):
        if value in readings:
            yield start, end


def date_tokens(text: str) -> Iterator[tuple[int, int, set[dt.date]]]:
    """Every printed date of ``text``: its span and the dates it can mean."""
    for pattern, order in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            readings = _readings(match, order)
            if readings:
                yield match.start(), match.end(), readings


def _readings(match: re.Match[str], order: str) -> set[dt.date]:
    groups = list(match.groups())
    if order == "ysmd":
        year, month, day = groups[0], groups[2], groups[3]
        return _dates([(int(year), int(month), int(day)), (int(year), int(day), int(month))])
    if order == "asay":
        first, second, year = int(groups[0]), int(groups[2]), _year(groups[3])
        return _dates([(year, second, first), (year, first, second)])
    if order == "ymd":
        digits = "".join(groups)
        year_first = (int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        return _dates([year_first, (int(digits[4:]), int(digits[2:4]), int(digits[:2]))])
    if order == "dny":
        month = MONTHS.get(plain_word(groups[1]))
        return _dates([(_year(groups[2]), month, int(groups[0]))]) if month else set()
    month = MONTHS.get(plain_word(groups[0]))
    return _dates([(_year(groups[2]), month, int(groups[1]))]) if month else set()


def _year(text: str) -> int:
    digits = text.lstrip("'")
    year = int(digits)
    return year + (2000 if year < 70 else 1900) if len(digits) == 2 else year


def _dates(candidates: list[tuple[int, int, int]]) -> set[dt.date]:
    dates = set()
    for year, month, day in candidates:
        try:
            dates.add(dt.date(year, month, day))
        except ValueError:
            continue
    return dates


def iso_date(value: str) -> dt.date | None:
    """The date of an ISO 8601 string (``2024-03-14``), or ``None``."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None
