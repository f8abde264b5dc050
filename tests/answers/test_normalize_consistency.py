"""Declared normalization and invoice sanity checks."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qvl_cli.answers.consistency import consistency_warnings, invoice_consistency
from qvl_cli.answers.normalize import normalize, parse_amount, parse_date


@pytest.mark.parametrize(
    ("printed", "value"),
    [
        ("1.234,50", 1234.5),
        ("1,234.50", 1234.5),
        ("€ 1 234,50", 1234.5),
        ("1'234.50", 1234.5),
        ("USD 1,000,000.00", 1000000.0),
        ("12,5", 12.5),
        ("1,234", 1234),
        ("(12.00)", -12.0),
        ("12.00-", -12.0),
        ("−7", -7),
        ("598,57 EUR", 598.57),
        ("n/a", None),
    ],
)
def test_amounts(printed: str, value: float | None) -> None:
    assert parse_amount(printed) == value


@given(st.decimals(min_value=0, max_value=10**9, places=2))
def test_amounts_in_every_common_style(amount) -> None:
    us = f"{amount:,.2f}"
    german = us.replace(",", "X").replace(".", ",").replace("X", ".")
    swiss = us.replace(",", "'")
    for printed in (us, german, swiss, f"€ {german}", f"{us} USD"):
        assert parse_amount(printed) == pytest.approx(float(amount)), printed


@pytest.mark.parametrize(
    ("printed", "iso"),
    [
        ("2024-03-14", "2024-03-14"),
        ("2024-03-14T09:30:00", "2024-03-14"),
        ("14.03.2024", "2024-03-14"),
        ("14/03/24", "2024-03-14"),
        ("03/04/2024", "2024-04-03"),  # day first when ambiguous
        ("12/31/2024", "2024-12-31"),  # month first when the day cannot be first
        ("14 March 2024", "2024-03-14"),
        ("14. März 2024", "2024-03-14"),
        ("March 14, 2024", "2024-03-14"),
        ("14-Mar-24", "2024-03-14"),
        ("1er janvier 2024", "2024-01-01"),
        ("20240314", "2024-03-14"),
        ("31.02.2024", None),
        ("Q1 2024", None),
    ],
)
def test_dates(printed: str, iso: str | None) -> None:
    parsed = parse_date(printed)
    assert (parsed.isoformat() if parsed else None) == iso


@given(st.dates(min_value=dt.date(1971, 1, 1), max_value=dt.date(2069, 12, 31)))
def test_dates_round_trip_through_printed_forms(day: dt.date) -> None:
    for printed in (day.isoformat(), day.strftime("%d.%m.%Y"), day.strftime("%d %B %Y"), day.strftime("%b %d, %Y")):
        assert parse_date(printed) == day, printed


def test_normalize_follows_the_schema_and_keeps_raw_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": ["string", "null"], "x-qvl-normalize": "date"},
            "rows": {"type": "array", "items": {"$ref": "#/$defs/row"}},
            "note": {"type": "string"},
        },
        "$defs": {"row": {"type": "object", "properties": {"price": {"type": "number", "x-qvl-normalize": "amount"}}}},
    }
    data = {"when": "14.03.2024", "rows": [{"price": "1.234,50"}, {"price": 3}], "note": " a  b "}
    normalized, changes = normalize(data, schema)
    assert normalized == {"when": "2024-03-14", "rows": [{"price": 1234.5}, {"price": 3}], "note": " a  b "}
    assert [(c.pointer, c.raw, c.value) for c in changes] == [
        ("/when", "14.03.2024", "2024-03-14"),
        ("/rows/0/price", "1.234,50", 1234.5),
    ]
    assert data["when"] == "14.03.2024"  # the caller's data is untouched


GOOD = {
    "invoice_date": "2024-03-14",
    "due_date": "2024-04-13",
    "currency": "EUR",
    "line_items": [{"amount": 294.0}, {"amount": 124.0}, {"amount": 85.0}],
    "subtotal": 503.0,
    "tax": 95.57,
    "total": 598.57,
}


def test_a_consistent_invoice_has_no_warnings() -> None:
    assert invoice_consistency(GOOD) == []
    assert invoice_consistency(GOOD | {"subtotal": 503.02}) == []  # rounding: 0.01 per line allowed


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        ({"subtotal": 510.0, "total": 605.57}, "line items add up to 503.00, but subtotal is 510.00"),
        ({"total": 600.0}, "subtotal 503.00 + tax 95.57 = 598.57, but total is 600.00"),
        ({"due_date": "2024-03-01"}, "due_date 2024-03-01 is before invoice_date 2024-03-14"),
        ({"invoice_date": "2024-13-01"}, "invoice_date '2024-13-01' is not a valid ISO 8601 date"),
        ({"currency": "EURO"}, "currency 'EURO' is not an ISO 4217 code"),
    ],
)
def test_inconsistent_invoices_are_flagged(change: dict, warning: str) -> None:
    assert invoice_consistency(GOOD | change) == [warning]


def test_consistency_rules_apply_only_when_declared() -> None:
    bad = GOOD | {"currency": "XYZ"}
    warning = ["currency 'XYZ' is not an ISO 4217 code"]
    assert consistency_warnings(bad, {"x-qvl-checks": ["invoice"]}) == warning
    assert consistency_warnings(bad, {"x-qvl-checks": "invoice"}) == warning
    assert consistency_warnings(bad, {"x-qvl-checks": None}) == []
    assert consistency_warnings(bad, {}) == []
