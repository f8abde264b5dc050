"""Shared test data."""

from __future__ import annotations

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
