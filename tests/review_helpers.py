"""Helpers for the review tests: records whose evidence comes from a real PDF's text layer, and
reports opened in a real browser with everything they try to do recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from qvl_cli.cli import app
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.rasterize import render_document

PAGE_ONE = ("Nordwind Paper GmbH", "Invoice NW-2024-0117", "Date 14.03.2024", "Paper A4 294.00", "Boxes 124.00")
PAGE_TWO = ("Total 598.57",)
# pointer -> text printed on the page
PRINTED = {
    "/vendor/name": "Nordwind Paper GmbH",
    "/invoice_number": "NW-2024-0117",
    "/invoice_date": "14.03.2024",
    "/line_items/0/description": "Paper A4",
    "/line_items/0/amount": "294.00",
    "/line_items/1/description": "Boxes",
    "/line_items/1/amount": "124.00",
    "/total": "598.57",
}


def text_boxes(path: Path, needles: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Evidence for each pointer: where PDFium's text layer has its text (fractions, top-left origin)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    found: dict[str, dict[str, Any]] = {}
    for index in range(len(pdf)):
        page = pdf[index]
        width, height = page.get_size()
        textpage = page.get_textpage()
        content = textpage.get_text_range()
        for pointer, needle in needles.items():
            at = content.find(needle)
            if at < 0 or pointer in found:
                continue
            chars = [textpage.get_charbox(i) for i in range(at, at + len(needle)) if not content[i].isspace()]
            left, right = min(c[0] for c in chars), max(c[2] for c in chars)
            bottom, top = min(c[1] for c in chars), max(c[3] for c in chars)
            box = [left / width, 1 - top / height, right / width, 1 - bottom / height]
            found[pointer] = {"page": index + 1, "boxes": [box], "text": needle, "source": "text", "score": 1.0}
    pdf.close()
    return found


def invoice_record(pdf: Path, evidence: bool = True, **changes: Any) -> dict[str, Any]:
    """A record like ``qvl extract`` writes for ``pdf``, with its real page sizes and text boxes."""
    rendered = render_document(pdf, PixelBudget())
    record: dict[str, Any] = {
        "file": str(pdf),
        "valid": True,
        "schema": "invoice",
        "data": {
            "vendor": {"name": "Nordwind Paper GmbH", "tax_id": None},
            "invoice_number": "NW-2024-0117",
            "invoice_date": "2024-03-14",
            "line_items": [
                {"description": "Paper A4", "amount": 294.0},
                {"description": "Boxes", "amount": 124.0},
            ],
            "total": 598.57,
        },
        "errors": [],
        "warnings": [],
        "confidence": dict.fromkeys(PRINTED, 0.95) | {"/vendor/tax_id": 0.2, "/invoice_date": 0.3},
        "normalized": {"/invoice_date": {"raw": "14.03.2024", "value": "2024-03-14"}},
        "pages": [page.describe() for page in rendered.pages],
        "page_count": rendered.page_count,
        "budget": {"min_pixels": 3136, "max_pixels": 1003520, "max_total_pixels": 12845056, "pdf_dpi": 200.0},
    }
    if evidence:
        record["evidence"] = text_boxes(pdf, PRINTED) | {"/vendor/tax_id": None}
    return record | changes


@dataclass
class Opened:
    """A report open in the browser, with everything it tried to do."""

    page: Any
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def open_report(browser: Any, path: Path, width: int = 1400, height: int = 900) -> Opened:
    """Open ``path``; every request but the report itself is counted and refused."""
    page = browser.new_page(viewport={"width": width, "height": height})
    opened = Opened(page)
    url = path.resolve().as_uri()

    def route(handle: Any) -> None:
        if handle.request.url == url:
            handle.continue_()
        else:
            opened.requests.append(handle.request.url)
            handle.abort()

    page.route("**/*", route)
    page.on("request", lambda request: _count(opened, request.url, url))
    page.on("console", lambda message: opened.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: opened.console.append(f"error: {error}"))
    page.on("dialog", lambda dialog: (opened.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url)
    page.wait_for_load_state("load")
    return opened


def _count(opened: Opened, requested: str, own: str) -> None:
    if requested != own and not requested.startswith("data:") and requested not in opened.requests:
        opened.requests.append(requested)


def write_report(tmp_path: Path, records: list[dict[str, Any]], *args: str) -> Path:
    """``qvl review`` of these records, written in ``tmp_path`` (the command must succeed)."""
    source = tmp_path / "run.jsonl"
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    report = tmp_path / "review.html"
    result = CliRunner().invoke(app, ["review", str(source), "-o", str(report), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return report
