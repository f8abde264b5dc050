"""The review report's promises in a real Chromium: its Content-Security-Policy (exact, and
enforced), ``data-status`` and the other document hooks, the summary's counts, and ``Esc``."""

from __future__ import annotations

import base64
import hashlib
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from review_helpers import PRINTED, invoice_record, open_report, write_report

# Each summary card as "<number> <what>" (the number is a <b>, set apart by CSS).
CARD_TEXTS = """cards => cards.map(c => {
    const number = c.querySelector("b").textContent;
    return number + " " + c.textContent.slice(number.length).replace(/\\s+/g, " ").trim();
})"""
WARNING = "/total: line items do not add up to the subtotal"


def three_records(pdf: Path) -> list[dict[str, Any]]:
    """Valid with evidence; invalid with a warning and no evidence; failed. Each of the first two
    has two fields below 0.5 (``/vendor/tax_id`` 0.2, a null, and ``/invoice_date`` 0.3)."""
    valid = invoice_record(pdf)
    invalid = invoice_record(
        pdf, evidence=False, valid=False, warnings=[WARNING], errors=[{"path": "/total", "message": "total is wrong"}]
    )
    failed = {
        "file": "gone.pdf",
        "valid": False,
        "data": None,
        "error": {"type": "input", "message": "gone.pdf: no such file"},
    }
    return [valid, invalid, failed]


def test_the_content_security_policy_allows_only_the_reports_own_script(tmp_path: Path, invoice_pdf: Path) -> None:
    html = write_report(tmp_path, [invoice_record(invoice_pdf)]).read_text(encoding="utf-8")
    (attribute,) = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html)
    policy = unescape(attribute)
    (script,) = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    assert policy == (
        f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
        "base-uri 'none'; form-action 'none'"
    )
    assert html.index("Content-Security-Policy") < html.index("<script>")  # in force before any script


def test_the_policy_is_enforced_in_the_browser(chromium: Any, tmp_path: Path, invoice_pdf: Path) -> None:
    """The report's own script runs (its hash matches); a script or remote image added later is refused."""
    opened = open_report(chromium, write_report(tmp_path, [invoice_record(invoice_pdf)]))
    page = opened.page
    assert page.evaluate("document.body.getAttribute('data-filter')") == "all"  # set by the report's script
    page.evaluate(
        """() => {
            window.seen = [];
            document.addEventListener("securitypolicyviolation", e => window.seen.push(e.effectiveDirective));
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.appendChild(script);
            const image = document.createElement("img");
            image.src = "http://127.0.0.1:9/tracker.png";
            document.body.appendChild(image);
        }"""
    )
    page.wait_for_function("window.seen.length >= 2")  # both refusals reported (events come asynchronously)
    blocked = page.evaluate("[window.seen.slice().sort(), window.injected === true]")
    assert blocked == [["img-src", "script-src-elem"], False]
    page.close()


def test_each_document_has_its_status_and_counts_as_attributes(
    chromium: Any, tmp_path: Path, invoice_pdf: Path
) -> None:
    opened = open_report(chromium, write_report(tmp_path, three_records(invoice_pdf)))
    hooks = opened.page.locator("section.doc").evaluate_all(
        "docs => docs.map(d => [d.id, d.dataset.status, d.dataset.warnings, d.dataset.low, d.dataset.unlocated])"
    )
    assert hooks == [
        ["doc-1", "valid", "0", "2", "0"],
        ["doc-2", "invalid", "1", "2", str(len(PRINTED))],  # every printed value, without evidence
        ["doc-3", "failed", "0", "0", "0"],
    ]
    assert "gone.pdf: no such file" in opened.page.locator("#doc-3").inner_text()
    opened.page.close()


def test_the_summary_counts_and_its_filters(chromium: Any, tmp_path: Path, invoice_pdf: Path) -> None:
    opened = open_report(chromium, write_report(tmp_path, three_records(invoice_pdf)))
    page = opened.page
    cards = page.locator(".summary .card").evaluate_all(CARD_TEXTS)
    assert cards == [
        "3 documents",
        "1 valid",
        "1 invalid",
        "1 failed",
        "4 of 18 fields below confidence 0.50",
        f"{len(PRINTED)} fields without evidence",
    ]
    buttons = page.locator("[data-filter-button]").evaluate_all("b => b.map(x => x.innerText.trim())")
    assert buttons == ["All", "Invalid or failed (2)", "Warnings (1)", "Low confidence (4)", "Without evidence (8)"]
    shown = {
        "invalid": ["doc-2", "doc-3"],
        "warnings": ["doc-2"],
        "low": ["doc-1", "doc-2"],
        "unlocated": ["doc-2"],
        "all": ["doc-1", "doc-2", "doc-3"],
    }
    for name, documents in shown.items():
        page.locator(f"[data-filter-button='{name}']").click()
        visible = page.locator("section.doc").evaluate_all("d => d.filter(x => x.offsetParent !== null).map(x => x.id)")
        assert visible == documents, name
        assert page.locator(f"[data-filter-button='{name}']").get_attribute("aria-pressed") == "true"
    opened.page.close()


def test_the_summary_follows_min_confidence(chromium: Any, tmp_path: Path, invoice_pdf: Path) -> None:
    opened = open_report(chromium, write_report(tmp_path, three_records(invoice_pdf), "--min-confidence", "0.25"))
    cards = opened.page.locator(".summary .card.low").evaluate_all(CARD_TEXTS)
    assert cards == ["2 of 18 fields below confidence 0.25"]  # only /vendor/tax_id, twice
    opened.page.close()


@pytest.mark.parametrize("select", ["click", "keys"])
def test_escape_clears_the_selection(chromium: Any, tmp_path: Path, invoice_pdf: Path, select: str) -> None:
    opened = open_report(chromium, write_report(tmp_path, three_records(invoice_pdf)))
    page = opened.page
    if select == "click":
        page.locator('#doc-1 [data-pointer="/total"]').click()
    else:
        page.keyboard.press("j")
    selected = page.locator(".selected").evaluate_all("s => s.map(x => x.dataset.pointer || x.dataset.evidence)")
    expected = "/total" if select == "click" else "/vendor/name"
    assert selected == [expected, expected]  # the field and its box
    page.locator("[data-filter-button='low']").click()  # document 1 stays in view, and selected
    assert page.locator(".selected").count() == 2
    page.keyboard.press("Escape")
    assert page.locator(".selected").count() == 0
    assert page.locator("[data-filter-button='low']").get_attribute("aria-pressed") == "true"  # the filter stays
    page.keyboard.press("j")  # stepping starts again from the first field of the current document
    assert page.locator(".field.selected").count() == 1
    opened.page.close()
