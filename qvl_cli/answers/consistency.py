"""Consistency rules across fields that a JSON Schema cannot express, reported as warnings.

A schema opts in at its root with ``"x-qvl-checks": ["invoice"]`` (the schema keyword's published
name). The invoice rules:

- line items: the ``amount`` values add up to ``subtotal`` within 0.01 per line item (rounding);
- totals: ``subtotal + tax`` equals ``total`` within 0.02;
- dates: ``invoice_date`` and ``due_date`` are real ISO 8601 dates, the due date not earlier;
- currency: ``currency`` is an ISO 4217 code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from qvl_cli.schemas.keywords import PREFIX

KEYWORD = f"{PREFIX}checks"
TOTAL_TOLERANCE = 0.02
LINE_TOLERANCE = 0.01

# Active ISO 4217 currency codes.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD
    KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN
    SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG
    XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL""".split()
)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _iso_date(name: str, value: Any, warnings: list[str]) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        warnings.append(f"{name} {value!r} is not a valid ISO 8601 date")
        return None


def invoice_consistency(data: Any) -> list[str]:
    """Warnings about an invoice whose numbers, dates or currency do not add up."""
    if not isinstance(data, dict):
        return []
    warnings: list[str] = []
    subtotal, tax, total = (_number(data.get(key)) for key in ("subtotal", "tax", "total"))
    line_items = data.get("line_items")
    items = line_items if isinstance(line_items, list) else []
    amounts = [_number(item.get("amount")) for item in items if isinstance(item, dict)]
    if subtotal is not None and amounts and None not in amounts:
        line_sum = sum(a for a in amounts if a is not None)
        if abs(line_sum - subtotal) > LINE_TOLERANCE * len(amounts):
            warnings.append(f"line items add up to {line_sum:.2f}, but subtotal is {subtotal:.2f}")
    if subtotal is not None and tax is not None and total is not None:
        if abs(subtotal + tax - total) > TOTAL_TOLERANCE:
            warnings.append(f"subtotal {subtotal:.2f} + tax {tax:.2f} = {subtotal + tax:.2f}, but total is {total:.2f}")
    issued = _iso_date("invoice_date", data.get("invoice_date"), warnings)
    due = _iso_date("due_date", data.get("due_date"), warnings)
    if issued and due and due < issued:
        warnings.append(f"due_date {due} is before invoice_date {issued}")
    currency = data.get("currency")
    if currency is not None and currency not in ISO_4217:
        warnings.append(f"currency {currency!r} is not an ISO 4217 code")
    return warnings


RULE_SETS: dict[str, Callable[[Any], list[str]]] = {"invoice": invoice_consistency}


def consistency_warnings(data: Any, schema: dict[str, Any]) -> list[str]:
    """Warnings from every set of consistency rules the schema declares."""
    declared = schema.get(KEYWORD) or []
    names = [declared] if isinstance(declared, str) else [str(name) for name in declared]
    return [warning for name in names if name in RULE_SETS for warning in RULE_SETS[name](data)]
