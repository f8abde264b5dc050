"""Evidence for documents read in windows: every value of the merged answer located over the whole
document, in agreement with the pages it was read from (``origin``); ``qvl locate`` on such records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf
from typer.testing import CliRunner

from qvl_cli.cli import app
from qvl_cli.evidence.locate import locate
from qvl_cli.evidence.ocr import LazyImage, ocr_page
from qvl_cli.evidence.pages import TextOptions, streamed_text
from qvl_cli.evidence.text import PageText
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.rasterize import measure_document
from qvl_cli.pages.windows import LEAST_MIN_PAGE_PIXELS, WindowSettings
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.windows import WindowedDocument
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

FLOOR = LEAST_MIN_PAGE_PIXELS
SMALL = PixelBudget(max_total_pixels=FLOOR * 6)  # six pages at the floor a window
OPTIONS = {"budget": SMALL, "windows": WindowSettings(min_page_pixels=FLOOR)}
PAGES = 40


def extractor(fake: FakeBackend, **options) -> Extractor:  # type: ignore[no-untyped-def]
    loaded = load_schema("invoice")
    return Extractor(loaded, load_prompt(None, loaded), ExtractOptions(**(OPTIONS | options)), lambda: fake)


def items(page: int) -> list[dict]:
    return [
        {"description": f"Transfer {page}.{row}", "quantity": None, "unit_price": None, "amount": page + row / 100}
        for row in range(1, 4)
    ]


@pytest.fixture
def statement(tmp_path: Path) -> Path:
    """Every page prints the statement's number; the last one prints the total."""
    pages = []
    for page in range(1, PAGES + 1):
        lines = ["Statement S-77", *(f"Transfer {page}.{row}   {page}.{row:02d}" for row in range(1, 4))]
        if page == PAGES:
            lines.append("Total 999.99")
        pages.append(PageSpec(lines=tuple(lines)))
    return write_pdf(tmp_path / "statement.pdf", pages)


def spans_of(path: Path) -> list[tuple[int, int]]:
    document = extractor(FakeBackend()).load(path)
    assert isinstance(document, WindowedDocument) and len(document.windows) > 2
    return [(document.pages.numbers[w.start], document.pages.numbers[w.stop - 1]) for w in document.windows]


def reply(first: int, last: int, **values) -> str:  # type: ignore[no-untyped-def]
    rows = [item for page in range(first, last + 1) for item in items(page)]
    empty = {"vendor": {"name": None, "address": None, "tax_id": None}, "customer": {"name": None, "address": None}}
    empty |= dict.fromkeys(("invoice_number", "invoice_date", "due_date", "currency", "subtotal", "tax", "total"))
    return json.dumps(empty | {"line_items": rows} | values)


def test_every_value_of_a_windowed_document_is_located_on_its_own_page(statement: Path) -> None:
    spans = spans_of(statement)
    replies = [reply(first, last) for first, last in spans]
    replies[-1] = reply(*spans[-1], invoice_number="S-77", total=999.99)
    envelope = extractor(FakeBackend(replies=replies)).extract(statement)
    evidence, origin = envelope.evidence, envelope.origin
    assert evidence is not None and origin is not None
    rows = envelope.data["line_items"]
    assert len(rows) == 3 * PAGES
    for index in range(len(rows)):
        page = index // 3 + 1
        for field in ("description", "amount"):
            found = evidence[f"/line_items/{index}/{field}"]
            assert found is not None and found["page"] == page and found["source"] == "text", (index, field)
            first, last = origin[f"/line_items/{index}/{field}"]
            assert first <= page <= last  # evidence agrees with the pages of origin
    assert evidence["/line_items/0/description"]["text"] == "Transfer 1.1"
    assert evidence["/total"]["page"] == PAGES
    # S-77 is printed on every page: the occurrence cited is one of the pages it was read from.
    first, last = spans[-1]
    assert origin["/invoice_number"] == [first, last]
    assert first <= evidence["/invoice_number"]["page"] <= last
    assert not any("where it was read" in w or "does not appear" in w for w in envelope.warnings)
    assert envelope.valid, envelope.errors


def test_a_value_printed_only_outside_its_window_is_warned_about_and_invented_ones_flagged(statement: Path) -> None:
    spans = spans_of(statement)
    replies = [reply(first, last) for first, last in spans]
    replies[0] = reply(*spans[0], total=999.99, currency="XAU")  # read from pages that do not print them
    envelope = extractor(FakeBackend(replies=replies), require_evidence=True).extract(statement)
    first, last = spans[0]
    assert envelope.origin is not None and envelope.origin["/total"] == [first, last]
    assert envelope.evidence is not None and envelope.evidence["/total"]["page"] == PAGES
    assert f"/total is printed on page {PAGES}, not on pages {first}-{last} where it was read" in envelope.warnings
    assert envelope.evidence["/currency"] is None
    assert '/currency "XAU" does not appear in the document' in envelope.warnings
    assert not envelope.valid
    assert [(e.path, e.message) for e in envelope.errors] == [
        ("/currency", "does not appear in the document (--require-evidence)")
    ]


def test_windowed_evidence_can_be_turned_off(statement: Path) -> None:
    spans = spans_of(statement)
    replies = [reply(first, last) for first, last in spans]
    envelope = extractor(FakeBackend(replies=replies), evidence="off").extract(statement)
    assert envelope.evidence is None and envelope.origin


def test_locate_gives_a_windowed_record_the_evidence_extract_gave(statement: Path, tmp_path: Path) -> None:
    spans = spans_of(statement)
    replies = [reply(first, last) for first, last in spans]
    replies[0] = reply(*spans[0], total=999.99)
    out = tmp_path / "run.jsonl"
    args = ["extract", str(statement), "-s", "invoice", "-o", str(out), "-q"]
    args += ["--max-total-pixels", str(SMALL.max_total_pixels), "--min-page-pixels", str(FLOOR)]
    env = {"QVL_BACKEND": "fake", "QVL_FAKE_REPLIES": json.dumps(replies)}
    assert CliRunner().invoke(app, args, env=env).exit_code == 0
    extracted = json.loads(out.read_text())
    assert len(extracted["windows"]) == len(spans) and extracted["evidence"]["/total"]["page"] == PAGES
    stale = extracted | {
        "evidence": {"/total": None},
        "warnings": [w for w in extracted["warnings"] if "where it was read" not in w] + ["/x 1 was read earlier"],
    }
    stale.pop("pages")  # without the sizes it was sent at, each page is sized as its window sends it
    result = CliRunner().invoke(app, ["locate", "-"], input=json.dumps(stale) + "\n", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    located = json.loads(result.stdout)
    assert list(located) == list(stale)
    assert located["evidence"] == extracted["evidence"]
    assert sorted(located["warnings"]) == sorted([*extracted["warnings"], "/x 1 was read earlier"])
    again = CliRunner().invoke(app, ["locate", "-"], input=json.dumps(located) + "\n", catch_exceptions=False)
    assert json.loads(again.stdout)["warnings"] == located["warnings"]  # refreshed, not repeated


def test_streamed_text_reads_every_page_in_order_a_chunk_at_a_time(statement: Path) -> None:
    document = measure_document(statement)
    sizes = dict.fromkeys(document.numbers, (280, 364))
    stream = streamed_text(document, sizes, TextOptions("auto"), chunk=16)
    first = next(stream)
    assert first.page == 1 and first.source == "text" and first.lines[0].text == "Statement S-77"
    rest = list(stream)
    assert [page.page for page in rest] == list(range(2, PAGES + 1))


def test_locate_reads_a_generator_once_and_agrees_with_a_list(statement: Path) -> None:
    document = measure_document(statement)
    pages = list(streamed_text(document, dict.fromkeys(document.numbers, (280, 364)), TextOptions("text")))
    data = {"n": "S-77", "rows": [{"d": "Transfer 7.2", "a": 7.02}], "total": 999.99, "fake": "nowhere"}
    consumed: list[int] = []

    def generator():  # type: ignore[no-untyped-def]
        for page in pages:
            consumed.append(page.page)
            yield page

    streamed = locate(data, generator())
    assert consumed == list(range(1, PAGES + 1))
    assert streamed == locate(data, pages)
    assert streamed.evidence["/rows/0/d"]["page"] == 7 and streamed.missing == (("/fake", "nowhere"),)
    guided = locate(data, pages, origin={"/n": [12, 18], "/total": [1, 6]})
    assert guided.evidence["/n"]["page"] == 12  # printed on every page: the first of its origin pages
    assert guided.strays == (("/total", PAGES, (1, 6)),)


def test_a_cached_ocr_result_never_draws_the_page_again(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (700, 300), "white")
    ImageDraw.Draw(image).text((40, 100), "TOTAL 598.57", fill="black", font=ImageFont.load_default(size=40))
    drawn: list[int] = []

    def draw() -> Image.Image:
        drawn.append(1)
        return image

    first = ocr_page(LazyImage(image.size, draw), 3, tmp_path, "doc:2")
    assert drawn == [1] and first.source == "ocr" and any("598" in line.text for line in first.lines)
    again = ocr_page(LazyImage(image.size, draw), 3, tmp_path, "doc:2")
    assert drawn == [1] and again == first
    assert isinstance(again, PageText)
