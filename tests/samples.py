"""Shared test data."""

from __future__ import annotations

from pathlib import Path

from conftest import fake
from pdf_factory import PageSpec, write_pdf

# A complete, valid answer for the built-in invoice schema.
VALID_INVOICE = {
    "vendor": {"name": "ACME", "address": None, "tax_id": None},
    "customer": {"name": None, "address": None},
    "invoice_number": "A-1",
    "invoice_date": "2024-01-31",
    "due_date": None,
    "currency": "EUR",
    "line_items": [],
    "subtotal": None,
    "tax": None,
    "total": 10.5,
}


# A valid answer for the built-in form schema, and a one-page form to extract it from.
FORM_REPLY = {"title": "T", "fields": [], "checkboxes": [], "signatures": []}


def fake_env(count: int = 50, delay: float = 0.0) -> dict[str, str]:
    """Environment for a `qvl` process on the fake backend answering ``FORM_REPLY``."""
    return fake(*[FORM_REPLY] * count, delay=delay)


def make_pdf(path: Path, label: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_pdf(path, [PageSpec(lines=(f"FORM {label}", "Name: Maria"))])
