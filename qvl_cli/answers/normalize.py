"""Declared normalization of extracted values, applied before validation.

A schema property opts in with ``"x-qvl-normalize": "amount" | "date" | "whitespace"``. Where the
model wrote a value as printed on the page ("1.234,50", "14.03.2024": possible without constrained
decoding, or from a backend without it), qvl converts it deterministically and keeps the printed
form when it changed. Under constrained decoding the grammar already enforces the schema's types
and formats, so only whitespace is usually left to tidy.

- ``amount``: currency symbols and codes dropped; thousands separators (".", ",", "'", spaces)
  removed; the last "." or "," before 1-2 digits is the decimal separator, a lone "," or "."
  followed by exactly three digits is a thousands separator; "(12.00)", "12.00-" and "-12.00"
  are negative. The result is a JSON number.
- ``date``: ISO 8601 ``YYYY-MM-DD`` from numeric dates (day first unless that is impossible, so
  03/04/2024 is 3 April) or dates with month names in English, German, French or Spanish.
- ``whitespace``: runs of whitespace become one space; ends trimmed.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qvl_cli.schemas import pointers
from qvl_cli.schemas.keywords import PREFIX
from qvl_cli.schemas.navigation import SchemaNode, branches, item_schema, property_schema

KEYWORD = f"{PREFIX}normalize"

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            "january jan januar janv janvier enero ene",
            "february feb februar fév fev février fevrier febrero",
            "march mar märz maerz mars marzo",
            "april apr avril abril abr",
            "may mai mayo",
            "june jun juni juin junio",
            "july jul juli juil juillet julio",
            "august aug august août aout agosto ago",
            "september sep sept septembre septiembre set",
            "october oct oktober okt octobre octubre",
            "november nov novembre noviembre",
            "december dec dezember dez décembre decembre diciembre dic",
        ],
        start=1,
    )
    for name in names.split()
}


@dataclass(frozen=True)
class Normalized:
    """A value that normalization changed."""

    pointer: str
    raw: Any
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "value": self.value}


def normalize_whitespace(value: Any) -> Any:
    return " ".join(value.split()) if isinstance(value, str) else value


def normalize_amount(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    parsed = parse_amount(value)
    return value if parsed is None else parsed


def parse_amount(text: str) -> int | float | None:
    """The number in a printed amount, or ``None`` when there is none."""
    stripped = text.strip().replace("\u2212", "-")
    negative = (stripped.startswith("(") and stripped.endswith(")")) or stripped.endswith("-") or "-" in stripped[:4]
    digits = re.sub(r"[^\d.,]", "", stripped)
    if not re.search(r"\d", digits):
        return None
    number = _decimal_point(digits)
    try:
        result = float(number)
    except ValueError:
        return None
    result = -result if negative else result
    return int(result) if result.is_integer() and "." not in number else result


def _decimal_point(digits: str) -> str:
    """Rewrite "1.234,50" / "1,234.50" / "12,5" as "1234.50" / "1234.50" / "12.5"."""
    last_dot, last_comma = digits.rfind("."), digits.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal = "." if last_dot > last_comma else ","
    elif last_comma >= 0:
        decimal = "," if digits.count(",") == 1 and len(digits) - last_comma - 1 != 3 else ""
    elif last_dot >= 0:
        decimal = "." if digits.count(".") == 1 else ""
    else:
        decimal = ""
    if not decimal:
        return digits.replace(",", "").replace(".", "")
    whole, _, fraction = digits.rpartition(decimal)
    return whole.replace(",", "").replace(".", "") + "." + fraction


def normalize_date(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    parsed = parse_date(value)
    return value if parsed is None else parsed.isoformat()


def parse_date(text: str) -> dt.date | None:
    """A calendar date from how dates are commonly printed, or ``None``."""
    cleaned = text.strip().lower().rstrip(".")
    for parser in (_iso_date, _numeric_date, _named_month_date):
        try:
            result = parser(cleaned)
        except ValueError:
            continue
        if result is not None:
            return result
    return None


def _iso_date(text: str) -> dt.date | None:
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[t ].*)?", text) or re.fullmatch(
        r"(\d{4})(\d{2})(\d{2})", text
    )
    return dt.date(int(match[1]), int(match[2]), int(match[3])) if match else None


def _numeric_date(text: str) -> dt.date | None:
    match = re.fullmatch(r"(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{2}|\d{4})", text)
    if not match:
        return None
    first, second, year = int(match[1]), int(match[2]), _full_year(match[3])
    day, month = (second, first) if second > 12 >= first else (first, second)
    return dt.date(year, month, day)


def _named_month_date(text: str) -> dt.date | None:
    words = re.findall(r"[^\W\d_]+|\d+", text)
    months = [MONTHS[w] for w in words if w in MONTHS]
    numbers = [w for w in words if w.isdigit()]
    if len(months) != 1 or len(numbers) != 2:
        return None
    year_index = next((i for i, n in enumerate(numbers) if len(n) == 4), 1)
    year = _full_year(numbers[year_index])
    day = int(numbers[1 - year_index])
    return dt.date(year, months[0], day)


def _full_year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 70 else 1900
    return year


NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "amount": normalize_amount,
    "date": normalize_date,
    "whitespace": normalize_whitespace,
}


def normalize(data: Any, schema: SchemaNode) -> tuple[Any, list[Normalized]]:
    """A normalized copy of ``data`` and the list of values that changed."""
    result = copy.deepcopy(data)
    changes: list[Normalized] = []
    return _visit(result, schema, schema, (), changes), changes


def _visit(
    value: Any, root: SchemaNode, schema: SchemaNode, path: tuple[str | int, ...], changes: list[Normalized]
) -> Any:
    options = branches(root, schema)
    kinds = [b.get(KEYWORD) for b in options if isinstance(b.get(KEYWORD), str)]
    if kinds and kinds[0] in NORMALIZERS:
        normalized = NORMALIZERS[kinds[0]](value)
        if normalized != value or type(normalized) is not type(value):
            changes.append(Normalized(pointers.join(path), value, normalized))
        return normalized
    container = next((b for b in options if "properties" in b or "items" in b or "additionalProperties" in b), {})
    if isinstance(value, dict):
        for key in list(value):
            value[key] = _visit(value[key], root, property_schema(root, container, key), (*path, key), changes)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _visit(item, root, item_schema(root, container, index), (*path, index), changes)
    return value
