"""`qvl check` reports each failure of a field once, every reason visible."""

from __future__ import annotations

from typing import Any

from qvl_cli.gate.config import Rule
from qvl_cli.gate.rules import ERROR, WARNING, evaluate
from qvl_cli.runs.records import Envelope

STRICT = Rule(("*.pdf",), "invoice", required=("total",), min_confidence=0.5, grounded=True)


def findings(record: dict[str, Any], rule: Rule = STRICT) -> list[tuple[str, str, str]]:
    return [(f.pointer, f.message, f.severity) for f in evaluate(Envelope.from_dict(record), rule)]


def test_a_low_confidence_value_not_found_shows_both_reasons_once() -> None:
    """As extract writes it with min_confidence 0.5: a warning for the low confidence, one for the
    value not found; the rule turns both into errors, and neither is listed again as a warning."""
    record = {
        "file": "a.pdf",
        "data": {"invoice_number": "A-1", "total": 7919.37},
        "errors": [],
        "confidence": {"/invoice_number": 0.95, "/total": 0.2},
        "evidence": {"/invoice_number": {"page": 1}, "/total": None},
        "warnings": ["low confidence 0.20 < 0.50 at /total", "/total 7919.37 does not appear in the document"],
    }
    assert findings(record) == [
        ("/total", "confidence 0.20 is below min_confidence 0.5", ERROR),
        ("/total", "7919.37 does not appear in the document", ERROR),
    ]


def test_a_warning_the_rule_does_not_report_stays() -> None:
    """Made with a higher threshold than the rule's: the rule passes the value, the warning stays."""
    record = {
        "file": "a.pdf",
        "data": {"total": 7.5},
        "errors": [],
        "confidence": {"/total": 0.6},
        "evidence": {"/total": {"page": 1}},
        "warnings": ["low confidence 0.60 < 0.80 at /total"],
    }
    assert findings(record) == [("", "low confidence 0.60 < 0.80 at /total", WARNING)]


def test_a_value_not_found_under_require_evidence_is_reported_once() -> None:
    record = {
        "file": "a.pdf",
        "data": {"total": 7919.37},
        "errors": [{"path": "/total", "message": "does not appear in the document (--require-evidence)"}],
        "evidence": {"/total": None},
        "warnings": ["/total 7919.37 does not appear in the document"],
    }
    assert findings(record) == [("/total", "does not appear in the document (--require-evidence)", ERROR)]


def test_a_value_cut_short_is_reported_for_that_alone() -> None:
    """Its confidence is 0 and it is printed nowhere because it was cut: one reason, the cause."""
    cut = "value cut short: the answer reached the --max-new-tokens budget"
    record = {
        "file": "a.pdf",
        "data": {"invoice_number": "NW-20", "total": 7.5},
        "errors": [{"path": "/invoice_number", "message": cut}],
        "truncated": {"reason": "budget", "cut": ["/invoice_number"], "added": []},
        "confidence": {"/invoice_number": 0.0, "/total": 0.9},
        "evidence": {"/invoice_number": None, "/total": {"page": 1}},
        "warnings": [],
    }
    assert findings(record, Rule(("*.pdf",), "invoice", required=("invoice_number",), min_confidence=0.5,
                                 grounded=True)) == [("/invoice_number", cut, ERROR)]  # fmt: skip
