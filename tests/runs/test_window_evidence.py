"""Evidence for documents read in windows: every value of the merged answer located over the whole
document, in agreement with the pages it was read from (``origin``); ``qvl locate`` on such records."""

from __future__ import annotations

import json
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf
from render_hooks import crash_in_ocr, stall_ocr
from typer.testing import CliRunner

from qvl_cli.cli import app
from qvl_cli.evidence.grounding import ground_pages
from qvl_cli.evidence.locate import locate
from qvl_cli.evidence.ocr import LazyImage, ocr_page
from qvl_cli.evidence.pages import TextOptions, pack_text, streamed_text
from qvl_cli.evidence.text import PageText
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.inputs import file_sha256
from qvl_cli.pages.pool import ProcessRenderer
from qvl_cli.pages.rasterize import measure_document
from qvl_cli.pages.windows import LEAST_MIN_PAGE_PIXELS, WindowSettings
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.records import Envelope
from qvl_cli.runs.window_evidence import PageTexts
from qvl_cli.runs.windows import WindowedDocument
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

FLOOR = LEAST_MIN_PAGE_PIXELS
SMALL = PixelBudget(max_total_pixels=FLOOR * 6)  # six pages at the floor a window
OPTIONS = {"budget": SMALL, "windows": WindowSettings(min_page_pixels=FLOOR)}
PAGES = 40


def extractor(fake: FakeBackend, renderer=None, **options) -> Extractor:  # type: ignore[no-untyped-def]
    loaded = load_schema("invoice")
    return Extractor(loaded, load_prompt(None, loaded), ExtractOptions(**(OPTIONS | options)), lambda: fake, renderer)


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


# Evidence read by the render workers, window by window, against the evidence read after the
# merge in this process (how windowed documents were read before): the same for every value.
SCAN_PAGES = 6
SCAN_OPTIONS = {"windows": WindowSettings(min_page_pixels=FLOOR, window_pages=3)}  # pages 1-3, 3-5, 5-6


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    """A PDF of page images (no text layer): evidence needs OCR. The number is on page 1, the total on
    the last page, and page 3 (shared by two windows) prints both again."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=44)
    images = []
    for page in range(1, SCAN_PAGES + 1):
        image = Image.new("RGB", (900, 1100), "white")
        draw = ImageDraw.Draw(image)
        draw.text((60, 60), f"PAGE {page}", fill="black", font=font)
        if page in (1, 3):
            draw.text((60, 300), "INVOICE 2024-0117", fill="black", font=font)
        if page in (3, SCAN_PAGES):
            draw.text((60, 700), "TOTAL 598.57", fill="black", font=font)
        images.append(image)
    path = tmp_path / "scan.pdf"
    images[0].save(path, save_all=True, append_images=images[1:], resolution=100)
    return path


def scan_replies(document: WindowedDocument) -> list[str]:
    spans = [(document.pages.numbers[w.start], document.pages.numbers[w.stop - 1]) for w in document.windows]
    assert spans == [(1, 3), (3, 5), (5, 6)]
    replies = [reply(1, 0) for _ in spans]
    replies[0] = reply(1, 0, invoice_number="2024-0117", total=598.57)
    replies[-1] = reply(1, 0, total=598.57, currency="XAU")
    return replies


def read_after_the_merge(path: Path, envelope: Envelope, mode: str, cache: Path) -> dict:
    """The evidence as it was read before: after the merge, in this process, page by page."""
    document = measure_document(path)
    sizes = {page["page"]: (page["size"][0], page["size"][1]) for page in envelope.pages}
    texts = streamed_text(document, sizes, TextOptions(mode, str(cache)), file_sha256(path))
    schema = load_schema("invoice").document
    options = ExtractOptions(evidence=mode)
    grounding = ground_pages(envelope.data, texts, schema, envelope.normalized or {}, options, envelope.origin)
    assert grounding.evidence is not None
    return grounding.evidence


def counting_engine(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the OCR engine's calls in this process."""
    from qvl_cli.evidence import ocr

    real, calls = ocr.engine, []

    def counted():  # type: ignore[no-untyped-def]
        engine = real()
        return lambda pixels, **options: calls.append(1) or engine(pixels, **options)

    monkeypatch.setattr(ocr, "engine", counted)
    return calls


def test_windowed_ocr_runs_in_the_render_workers_and_gives_the_evidence_read_after_the_merge(
    scan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting_engine(monkeypatch)
    with ProcessRenderer(2) as renderer:
        windowed = extractor(FakeBackend(), renderer, **SCAN_OPTIONS).load(scan)
        assert isinstance(windowed, WindowedDocument)
        replies = scan_replies(windowed)
        envelope = extractor(FakeBackend(replies=replies), renderer, **SCAN_OPTIONS).extract(scan)
    assert envelope.error is None and envelope.evidence is not None
    assert calls == []  # no OCR in this process: the workers read every page
    number, total = envelope.evidence["/invoice_number"], envelope.evidence["/total"]
    assert number is not None and number["source"] == "ocr" and number["page"] in (1, 3)
    assert total is not None and total["source"] == "ocr" and total["page"] in (3, SCAN_PAGES)
    assert envelope.evidence["/currency"] is None
    assert '/currency "XAU" does not appear in the document' in envelope.warnings
    before = read_after_the_merge(scan, envelope, "auto", tmp_path / "fresh-ocr-cache")
    assert len(calls) == SCAN_PAGES  # read again here, without the workers' cache
    assert envelope.evidence == before


def test_windowed_text_layer_evidence_from_the_workers_is_what_was_read_after_the_merge(
    statement: Path, tmp_path: Path
) -> None:
    spans = spans_of(statement)
    replies = [reply(first, last) for first, last in spans]
    replies[0] = reply(*spans[0], invoice_number="S-77", total=999.99, currency="XAU")
    with ProcessRenderer(2) as renderer:
        envelope = extractor(FakeBackend(replies=replies), renderer).extract(statement)
    assert envelope.error is None and envelope.evidence is not None
    assert envelope.evidence["/line_items/100/amount"]["source"] == "text"
    assert envelope.evidence == read_after_the_merge(statement, envelope, "auto", tmp_path / "ocr")


class CountingTexts(PageTexts):
    """Counts the pages whose text comes back from the renderer."""

    def __init__(self) -> None:
        super().__init__()
        self.read: Counter[int] = Counter()

    def add(self, records):  # type: ignore[no-untyped-def]
        records = list(records)
        self.read.update(number for number, _ in records)
        super().add(records)


def test_a_page_shared_by_two_windows_is_read_once(statement: Path) -> None:
    with ProcessRenderer(2) as renderer:
        document = extractor(FakeBackend(), renderer).load(statement)
        assert isinstance(document, WindowedDocument)
        with CountingTexts() as texts:
            for window in document.windows:
                rendered = document.rendered(window, texts)
                assert [page.number for page in rendered.pages] == [
                    document.pages.numbers[p] for p in window.positions
                ]  # every page is drawn for the model, shared or not
                assert rendered.text is None  # kept packed in ``texts``, not unpacked with the window
            assert texts.read == Counter(range(1, PAGES + 1))  # each page's text once
            kept = list(texts.read_pages(document.pages.numbers))
            document.rendered(document.windows[1])  # a re-ask's window: its text is not read again
            assert texts.read == Counter(range(1, PAGES + 1))
        assert [page.page for page in kept] == list(range(1, PAGES + 1))
        assert kept[6].lines[1].text == "Transfer 7.1 7.01"


@pytest.mark.parametrize(("hook", "kind"), [(stall_ocr, "timeout"), (crash_in_ocr, "crash")])
def test_a_stuck_or_crashing_ocr_in_a_window_is_that_documents_error_record(  # type: ignore[no-untyped-def]
    scan: Path, tmp_path: Path, hook, kind: str
) -> None:
    other = write_pdf(tmp_path / "other.pdf", [PageSpec(lines=("Invoice 12", "Total 5.00"))])
    replies = [reply(1, 0)] * 4
    # 10 s: room for a busy machine (a worker's start-up is not counted)
    renderer = ProcessRenderer(2, timeout=10.0, hook=partial(hook, "scan.pdf"))
    records: list[Envelope] = []
    sink = type("Sink", (), {"write": lambda self, record: records.append(record)})()
    try:
        BatchRunner(extractor(FakeBackend(replies=replies), renderer, **SCAN_OPTIONS), {}, sink).run([scan, other])
    finally:
        renderer.close()
    assert [Path(record.file).name for record in records] == ["scan.pdf", "other.pdf"]
    failed, fine = records
    assert failed.error is not None and failed.error.type == kind and not failed.valid
    assert failed.error.message.startswith(str(scan))
    assert fine.error is None and fine.evidence is not None  # the batch goes on


def test_page_texts_keep_the_first_reading_and_give_pages_back_in_the_order_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qvl_cli.evidence.text import Line
    from qvl_cli.runs import window_evidence

    monkeypatch.setattr(window_evidence, "SPOOL_BYTES", 64)  # past 64 bytes the records go to a file

    def page(number: int, text: str) -> PageText:
        boxes = tuple((i / 10, 0.1, (i + 1) / 10, 0.2) for i in range(len(text)))
        return PageText(number, "text", (Line(text, boxes),))

    def packed(number: int, text: str) -> tuple[int, bytes]:
        return number, pack_text(page(number, text))

    with PageTexts() as texts:
        texts.add([packed(2, "second"), packed(1, "first")])
        texts.add([packed(2, "again"), packed(3, "third")])
        assert texts.numbers == {1, 2, 3}
        assert list(texts.read_pages([1, 2, 3, 4])) == [page(1, "first"), page(2, "second"), page(3, "third")]
        assert texts._file._rolled  # type: ignore[attr-defined]
