"""Text-layer lines and located evidence, pinned: reading a page's characters and choosing among a
value's places are tuned for speed, and must give the very same results (boxes to the last
digit). ``golden/pinned.json`` holds what the code gave before it was tuned; regenerate it only
for a change meant to alter results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import ROOT
from pdf_factory import PageSpec, write_pdf

from qvl_cli.evidence.locate import locate
from qvl_cli.evidence.pages import TextOptions, read_text
from qvl_cli.evidence.text import pdf_page_lines
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.rasterize import render_document

PINNED = Path(__file__).parent / "golden" / "pinned.json"
LINES = ("INVOICE 2024-17", "Widget 1   2 x 12.50 EUR", "Bolt 2   1 x 3.00 EUR", "Total 15.50 EUR")


def text_layer_pdfs(folder: Path) -> dict[str, Path]:
    """An invoice and pages turned by /Rotate or cut by a crop box."""
    folder.mkdir(parents=True, exist_ok=True)
    turned = [PageSpec(rotate=angle, lines=LINES) for angle in (0, 90, 180, 270)]
    cropped = [PageSpec(cropbox=(50, 100, 500, 700), lines=LINES)]
    return {
        "invoice.pdf": ROOT / "examples" / "invoice.pdf",
        "turned.pdf": write_pdf(folder / "turned.pdf", turned),
        "cropped.pdf": write_pdf(folder / "cropped.pdf", cropped),
    }


def repeated_values(folder: Path) -> tuple[dict[str, Any], list[Any]]:
    """A record whose values are printed many times (an amount on every line of three pages)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = tuple(f"Line {i}: 2 x Widget {i % 4} at 12.50 EUR" for i in range(12))
    pdf = write_pdf(folder / "repeated.pdf", [PageSpec(lines=("INVOICE 2024-17", *lines, "Total 150.00"))] * 3)
    pages = [(page.number - 1, page.image) for page in render_document(pdf, PixelBudget()).pages]
    items = [{"description": f"Widget {i % 4}", "quantity": 2, "amount": 12.5} for i in range(6)]
    data = {"invoice_number": "2024-17", "line_items": items, "total": 150.0, "tax": 7.25}
    return data, list(read_text(str(pdf), True, pages, TextOptions("text")))


def test_text_layer_lines_are_as_pinned(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    pinned = json.loads(PINNED.read_text())["lines"]
    for name, path in text_layer_pdfs(tmp_path).items():
        pdf = pdfium.PdfDocument(path)
        try:
            pages = [pdf_page_lines(pdf, i) for i in range(len(pdf))]
            lines = [[[line.text, [list(box) for box in line.chars]] for line in page] for page in pages]
        finally:
            pdf.close()
        assert lines == pinned[name], name


def test_located_evidence_is_as_pinned(tmp_path: Path) -> None:
    pinned = json.loads(PINNED.read_text())
    data, texts = repeated_values(tmp_path)
    found = locate(data, texts)
    assert found.evidence == pinned["evidence"]
    assert [list(missing) for missing in found.missing] == pinned["missing"] == [["/tax", 7.25]]
