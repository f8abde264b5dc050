"""Long documents: the legibility floor, windows of pages, answers merged into one record."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf
from PIL import Image
from samples import VALID_INVOICE
from typer.testing import CliRunner

from qvl_cli.answers.decoding import Closing
from qvl_cli.answers.merge import Part, merge_parts, same_item
from qvl_cli.backends.contract import Generation, GenerationRequest
from qvl_cli.cli import app
from qvl_cli.errors import BudgetError
from qvl_cli.pages.budgets import PixelBudget, plan_pages
from qvl_cli.pages.windows import LEAST_MIN_PAGE_PIXELS, WindowSettings, plan_windows
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.windows import WindowedDocument
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

GOLDEN = Path(__file__).parent / "golden" / "single_window_records.json"
A4 = (1654.0, 2339.0)
FLOOR = LEAST_MIN_PAGE_PIXELS  # 256 visual tokens
SMALL = PixelBudget(max_total_pixels=FLOOR * 6)  # six pages at the floor a window


def extractor(fake: FakeBackend, schema: str = "invoice", **options) -> Extractor:
    loaded = load_schema(schema)
    return Extractor(loaded, load_prompt(None, loaded), ExtractOptions(**options), lambda: fake)


# --- planning -------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 5, 13, 20, 30])
def test_a_document_that_fits_is_one_window_with_todays_plan(count: int) -> None:
    windows = plan_windows([A4] * count, PixelBudget())
    assert len(windows) == 1
    assert (windows[0].start, windows[0].stop) == (0, count)
    assert windows[0].plan == plan_pages([A4] * count, PixelBudget())


@pytest.mark.parametrize("count", [32, 40, 300])
def test_long_documents_split_into_overlapping_windows_above_the_floor(count: int) -> None:
    budget = PixelBudget()
    settings = WindowSettings()
    windows = plan_windows([A4] * count, budget, settings)
    assert len(windows) > 1
    assert windows[0].start == 0 and windows[-1].stop == count
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.start == before.stop - settings.window_overlap  # one page shared by neighbours
    for window in windows:
        assert window.plan.total_pixels <= budget.max_total_pixels
        assert all(w * h >= settings.min_page_pixels for w, h in window.plan.sizes)
        assert len(window.plan.sizes) == window.stop - window.start
    lengths = [w.stop - w.start for w in windows]
    assert max(lengths) - min(lengths) <= 1  # even windows, not a long run and a stub


def test_fewest_windows_that_fit() -> None:
    windows = plan_windows([A4] * 300, PixelBudget())
    per_window = PixelBudget().max_total_pixels // WindowSettings().min_page_pixels  # pages at the floor
    assert len(windows) == math.ceil((300 - 1) / (per_window - 1 - 1))  # a little below: sizes round up


def test_window_pages_forces_a_size_and_overlap() -> None:
    windows = plan_windows([A4] * 40, PixelBudget(), WindowSettings(window_pages=8, window_overlap=2))
    assert all(w.stop - w.start <= 8 for w in windows)
    assert [w.start for w in windows][:3] == [0, 6, 12]
    assert windows[-1].stop == 40


def test_window_pages_never_push_pages_below_the_floor() -> None:
    windows = plan_windows([A4] * 30, SMALL, WindowSettings(min_page_pixels=FLOOR, window_pages=20))
    assert all(w.stop - w.start <= 6 for w in windows)
    assert all(w * h >= FLOOR for window in windows for w, h in window.plan.sizes)


def test_small_images_are_not_enlarged_to_the_floor() -> None:
    windows = plan_windows([(300.0, 200.0)] * 3, PixelBudget())
    assert windows[0].plan.sizes == ((308, 196),) * 3


def test_mixed_page_sizes_get_shorter_windows_where_pages_are_large() -> None:
    pages = [A4] * 20 + [(A4[0] * 3, A4[1] * 3)] * 20
    windows = plan_windows(pages, SMALL, WindowSettings(min_page_pixels=FLOOR, window_overlap=0))
    assert all(w.plan.total_pixels <= SMALL.max_total_pixels for w in windows)
    assert sum(w.stop - w.start for w in windows) == 40


def test_pages_below_the_floor_are_marked_with_the_budget_that_would_hold_them() -> None:
    """A --max-total-pixels too small for one page at the floor cannot be honoured any other way:
    each page goes alone, below the floor, and its plan says so and what would do."""
    tiny = PixelBudget(max_total_pixels=20_000)
    windows = plan_windows([A4] * 3, tiny, WindowSettings(min_page_pixels=FLOOR))
    assert [window.plan.below_floor for window in windows] == [(0,), (0,), (0,)]
    needed = windows[0].plan.floor_total
    assert needed >= FLOOR
    enough = plan_windows([A4] * 3, PixelBudget(max_total_pixels=needed), WindowSettings(min_page_pixels=FLOOR))
    assert all(window.plan.below_floor == () for window in enough)
    assert all(w * h >= FLOOR for window in enough for w, h in window.plan.sizes)
    small_images = plan_windows([(300.0, 200.0)] * 3, PixelBudget(max_total_pixels=200_000))
    assert small_images[0].plan.below_floor == ()  # sent whole, as always: not below their floor
    assert all(window.plan.below_floor == () for window in plan_windows([A4] * 40, SMALL))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_page_pixels": FLOOR - 1}, "--min-page-pixels must be at least"),
        ({"window_pages": 0}, "--window-pages must be at least 1"),
        ({"window_overlap": -1}, "--window-overlap must not be negative"),
        ({"window_pages": 3, "window_overlap": 3}, "--window-overlap must be smaller"),
    ],
)
def test_bad_window_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(BudgetError, match=message):
        WindowSettings(**settings)


# --- merging --------------------------------------------------------------------------------


def test_same_item_recognises_a_row_read_in_part() -> None:
    full = {"description": "Hosting March", "quantity": 1, "unit_price": 20, "amount": 20}
    assert same_item(full, {"description": "hosting  march", "quantity": 1.0, "unit_price": 20, "amount": 20})
    assert same_item(full, {"description": "Hosting March", "quantity": 1, "unit_price": 20, "amount": None})
    assert same_item(full, {"description": "Hosting", "quantity": 1, "unit_price": None, "amount": None})
    assert not same_item(full, {"description": "Hosting April", "quantity": 1, "unit_price": 20, "amount": 20})
    assert not same_item(full, {"description": "Hosting March", "quantity": None, "unit_price": None, "amount": None})


def test_scalars_keep_the_confident_reading_and_warn() -> None:
    schema = load_schema("invoice").document
    parts = [
        Part((1, 10), {"total": 99.0, "currency": "EUR"}, {"/total": 0.40, "/currency": 0.9}),
        Part((10, 20), {"total": 1234.5, "currency": None}, {"/total": 0.95, "/currency": 0.8}),
    ]
    merged = merge_parts(parts, schema)
    assert merged.data == {"currency": "EUR", "total": 1234.5}
    assert merged.confidence(parts) == {"/total": 0.95, "/currency": 0.9}
    assert merged.origin(parts) == {"/total": [10, 20], "/currency": [1, 10]}
    (warning,) = merged.warnings
    assert warning == (
        "windows disagree at /total: kept 1234.5 (pages 10-20, confidence 0.95); "
        "also read 99.0 (pages 1-10, confidence 0.40)"
    )


def test_arrays_without_shared_pages_are_only_concatenated() -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}
    parts = [Part((1, 2), {"tags": ["a", "b"]}), Part((3, 4), {"tags": ["b", "c"]})]
    assert merge_parts(parts, schema).data == {"tags": ["a", "b", "b", "c"]}


# --- extraction, window by window (fake backend) ---------------------------------------------


def statement_items(page: int) -> list[dict]:
    return [
        {"description": f"Transfer {page}.{row}", "quantity": 1, "unit_price": float(page), "amount": float(page)}
        for row in range(1, 4)
    ]


@pytest.fixture
def statement(tmp_path: Path) -> Path:
    pages = [PageSpec(lines=tuple(f"Transfer {p}.{r}   {p}.00" for r in range(1, 4))) for p in range(1, 41)]
    return write_pdf(tmp_path / "statement.pdf", pages)


SPLIT_WARNING = (
    "40 pages do not fit --max-total-pixels 1204224 at --min-page-pixels 200704: "
    "read in 10 windows of up to 5 pages (1 shared by neighbours) and merged"
)


def window_answer(first: int, last: int, total_pages: int, **extra) -> str:
    items = [item for page in range(first, last + 1) for item in statement_items(page)]
    last_window = last == total_pages
    subtotal = float(sum(3 * p for p in range(1, total_pages + 1)))
    return json.dumps(
        VALID_INVOICE
        | {"line_items": items, "subtotal": subtotal if last_window else None, "tax": 0 if last_window else None}
        | {"total": subtotal if last_window else None}
        | extra
    )


# The merge tests answer values the generated statement does not print, so evidence is off here;
# tests/runs/test_window_evidence.py covers the evidence of windowed documents.
def test_a_statement_across_40_pages_is_merged_in_order_without_duplicates(statement: Path) -> None:
    options = {"budget": SMALL, "evidence": "off", "windows": WindowSettings(min_page_pixels=FLOOR)}
    document = extractor(FakeBackend(), **options).load(statement)
    assert isinstance(document, WindowedDocument)
    spans = [(document.pages.numbers[w.start], document.pages.numbers[w.stop - 1]) for w in document.windows]
    replies = [window_answer(first, last, 40) for first, last in spans]
    # The row cut at the end of window 1 is read only in part there; the next window reads it whole.
    cut = json.loads(replies[0])
    cut["line_items"][-1] |= {"description": cut["line_items"][-1]["description"][:-2], "amount": None}
    replies[0] = json.dumps(cut)
    fake = FakeBackend(replies=replies)
    envelope = extractor(fake, **options).extract(statement)

    expected = [item for page in range(1, 41) for item in statement_items(page)]
    assert envelope.data["line_items"] == expected  # in order, none lost, none twice
    assert envelope.valid, envelope.errors
    assert envelope.data["total"] == 2460.0
    assert len(fake.calls) == len(spans) > 1
    record = envelope.to_dict()
    assert [w["pages"] for w in record["windows"]] == [list(span) for span in spans]
    assert all(w["finish_reason"] == "stop" and w["visual_tokens"] > 0 for w in record["windows"])
    assert len(record["pages"]) == 40 and all(page["visual_tokens"] >= 256 for page in record["pages"])
    assert record["origin"]["/total"] == list(spans[-1])
    assert record["origin"]["/line_items/0/amount"] == list(spans[0])
    assert record["prompt"] == "invoice-v1+window-v1"
    assert record["usage"]["generated_tokens"] == sum(len(reply.split()) for reply in replies)
    first, last = spans[1]
    assert f"These images are pages {first} to {last} of a document of 40 pages" in fake.calls[1].prompt
    assert all(sum(w * h for w, h in call.image_sizes) <= SMALL.max_total_pixels for call in fake.calls)
    assert [len(call.image_sizes) for call in fake.calls] == [last - first + 1 for first, last in spans]
    # Only how the document was split: a row read in part is no conflict between windows.
    assert envelope.warnings == (SPLIT_WARNING,)


class ScoredBackend(FakeBackend):
    """Replies with a probability for chosen values: (text, {value text: probability})."""

    def __init__(self, scored: list[tuple[str, dict[str, float]]]):
        super().__init__(replies=[text for text, _ in scored])
        self.scores = [scores for _, scores in scored]

    def generate(self, request: GenerationRequest) -> Generation:
        generation = super().generate(request)
        scores = self.scores.pop(0)
        text = generation.text
        logprobs = [0.0] * len(text)
        for needle, probability in scores.items():
            start = text.index(needle)
            for index in range(start, start + len(needle)):
                logprobs[index] = math.log(probability) / len(needle)
        spans = tuple((i, i + 1) for i in range(len(text)))
        return Generation(
            text, generation.prompt_tokens, len(text), generation.visual_tokens, "stop", spans, tuple(logprobs)
        )


def test_windows_disagreeing_on_a_total_keep_the_confident_one_and_warn(statement: Path) -> None:
    options = {"budget": SMALL, "evidence": "off", "windows": WindowSettings(min_page_pixels=FLOOR, window_pages=20)}
    document = extractor(FakeBackend(), **options).load(statement)
    assert isinstance(document, WindowedDocument)
    spans = [(document.pages.numbers[w.start], document.pages.numbers[w.stop - 1]) for w in document.windows]
    replies = [window_answer(first, last, 40) for first, last in spans]
    replies[0] = json.dumps(json.loads(replies[0]) | {"total": 777.77})  # a total invented early on
    scored = [(reply, {"777.77": 0.3} if index == 0 else {}) for index, reply in enumerate(replies)]
    envelope = extractor(ScoredBackend(scored), **options).extract(statement)
    assert envelope.data["total"] == 2460.0
    assert envelope.origin is not None and envelope.origin["/total"] == list(spans[-1])
    assert envelope.confidence is not None and envelope.confidence["/total"] == 1.0
    assert (spans[0], spans[-1]) == ((1, 5), (37, 40))
    assert envelope.warnings == (
        SPLIT_WARNING,
        "windows disagree at /total: kept 2460.0 (pages 37-40, confidence 1.00); "
        "also read 777.77 (pages 1-5, confidence 0.30)",
    )


def test_the_merged_answer_is_validated_and_reasked_as_a_whole(statement: Path, tmp_path: Path) -> None:
    schema = tmp_path / "rows.json"
    rows = {"type": "array", "maxItems": 4, "items": {"type": "string"}}
    schema.write_text(json.dumps({"type": "object", "properties": {"rows": rows}, "required": ["rows"]}))
    options = {"budget": SMALL, "evidence": "off", "windows": WindowSettings(min_page_pixels=FLOOR, window_overlap=0)}
    document = extractor(FakeBackend(), str(schema), **options).load(statement)
    assert isinstance(document, WindowedDocument) and len(document.windows) >= 2
    count = len(document.windows)
    # Each window's answer is valid alone; together they break maxItems.
    replies = [json.dumps({"rows": [f"w{index}a", f"w{index}b", f"w{index}c"]}) for index in range(count)]
    fake = FakeBackend(replies=[*replies, json.dumps({"rows": ["a", "b", "c", "d"]})])
    envelope = extractor(fake, str(schema), **options).extract(statement)
    assert len(fake.calls) == count + 1
    assistant, feedback = fake.calls[-1].followups
    assert len(json.loads(assistant.text)["rows"]) == 3 * count
    assert "- /rows:" in feedback.text and "is too long" in feedback.text
    assert envelope.valid and envelope.data == {"rows": ["a", "b", "c", "d"]}
    assert envelope.attempts == count + 1 and len(envelope.reasks) == 1
    first = document.windows[0]  # the window the first error's value came from was asked again
    pages = [document.pages.numbers[first.start], document.pages.numbers[first.stop - 1]]
    assert len(fake.calls[-1].image_sizes) == first.stop - first.start  # its pages, no other
    assert fake.calls[-1].image_sizes == fake.calls[0].image_sizes
    assert "These images are pages 1 to 5 of a document of 40 pages" in fake.calls[-1].prompt
    assert count == 8 and envelope.warnings == (
        "40 pages do not fit --max-total-pixels 1204224 at --min-page-pixels 200704: "
        "read in 8 windows of up to 5 pages (0 shared by neighbours) and merged",
    )
    assert envelope.origin == {f"/rows/{i}": pages for i in range(4)}


def test_a_document_that_fits_gives_exactly_todays_record(tmp_path: Path) -> None:
    """Records of one-window documents are those qvl wrote before windows existed (golden file)."""
    golden = json.loads(GOLDEN.read_text())
    for name, count in (("three-pages", 3), ("twenty-pages", 20)):
        pages = [PageSpec(lines=(f"Statement page {i + 1}", "Item 1  10.00")) for i in range(count)]
        pdf = write_pdf(tmp_path / f"{name}.pdf", pages)
        answer = {
            "invoice_number": "S-1",
            "currency": "EUR",
            "subtotal": 10.0,
            "tax": 1.0,
            "total": 12.0,
            "line_items": [{"description": "Item 1", "quantity": 1, "unit_price": 10.0, "amount": 10.0}],
        }
        fake = FakeBackend(replies=[json.dumps(answer)])
        record = extractor(fake, evidence="off").extract(pdf).to_dict()
        assert record.pop("evidence") is None  # the golden records predate evidence
        for key in ("seconds", "qvl_version", "file"):
            record.pop(key)
        assert json.loads(json.dumps(record)) == golden[name]["record"]
        assert "windows" not in record and "origin" not in record
        assert [fake.calls[0].prompt, [list(s) for s in fake.calls[0].image_sizes]] == [
            golden[name]["prompt"],
            golden[name]["sizes"],
        ]


# --- the command line -----------------------------------------------------------------------


def test_render_shows_windows_and_writes_every_page_above_the_floor(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "long.pdf", [PageSpec(lines=(f"Page {n}",)) for n in range(1, 15)])
    out = tmp_path / "pages"
    args = ["render", str(pdf), "--out", str(out), "--max-total-pixels", str(SMALL.max_total_pixels)]
    result = CliRunner().invoke(app, [*args, "--min-page-pixels", str(FLOOR)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert len(files) == 14
    for file in files:
        with Image.open(file) as image:
            assert image.width * image.height >= FLOOR
    text = " ".join(result.output.split())
    assert "4449 visual tokens in all; 4 windows of up to 5 pages, each within --max-total-pixels" in text
    rows = [line.split("│")[1:-1] for line in result.output.splitlines() if line.startswith("│")]
    rows = [cells for cells in rows if cells[1].strip()]  # not the lines of a wrapped file path
    windows = [cells[0].strip() for cells in rows]  # the window column; a shared page shows both
    assert windows == ["1", "1", "1", "1", "1,2", "2", "2", "2", "2,3", "3", "3", "3", "3,4", "4"]


@pytest.mark.parametrize("count", [1, 3])
def test_pages_sent_below_legible_size_are_a_warning_that_says_what_to_raise(tmp_path: Path, count: int) -> None:
    """One page (one window) or three (a window each): the record warns, and so does render."""
    pdf = write_pdf(tmp_path / "a.pdf", [PageSpec(lines=(f"Page {n}",)) for n in range(1, count + 1)])
    tiny = ["--max-total-pixels", "20000"]
    env = {"QVL_BACKEND": "fake", "QVL_FAKE_REPLIES": json.dumps([json.dumps(VALID_INVOICE)] * count)}
    result = CliRunner().invoke(app, ["extract", str(pdf), "-s", "invoice", "--evidence", "off", *tiny], env=env)
    record = json.loads(result.stdout)
    pages = "page 1" if count == 1 else "pages 1-3"
    needed = plan_windows([(1700.0, 2200.0)], PixelBudget(max_total_pixels=20_000))[0].plan.floor_total
    warning = (
        f"{pages} sent below legible size: --max-total-pixels 20000 cannot hold a page at "
        f"--min-page-pixels 401408; raise --max-total-pixels to at least {needed}"
    )
    assert warning in record["warnings"]
    assert all(w * h <= 20000 for w, h in (page["size"] for page in record["pages"]))
    rendered = CliRunner().invoke(app, ["render", str(pdf), "--out", str(tmp_path / "out"), *tiny])
    assert rendered.exit_code == 0, rendered.output
    assert rendered.stderr == f"qvl: warning: {pdf}: {warning}\n"
    fits = ["--max-total-pixels", str(needed * count)]
    enough = CliRunner().invoke(app, ["extract", str(pdf), "-s", "invoice", "--evidence", "off", *fits], env=env)
    assert not [w for w in json.loads(enough.stdout)["warnings"] if "legible" in w]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--window-pages", "2", "--window-overlap", "2"],
            "--window-overlap: 2 must be smaller than the window length 2 (--window-pages)",
        ),
        (["--min-page-pixels", "1000"], "--min-page-pixels: 1000 is less than the minimum 200704"),
    ],
)
def test_bad_window_options_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    pdf = write_pdf(tmp_path / "a.pdf", [PageSpec()])
    result = CliRunner().invoke(app, ["extract", str(pdf), "-s", "invoice", *args], env={"QVL_BACKEND": "fake"})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"qvl: error: {message}"]


def test_a_windowed_document_is_one_record_for_resume_and_cache(statement: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    args = ["extract", str(statement), "-s", "invoice", "-o", str(out), "--resume", "-q"]
    args += ["--max-total-pixels", str(SMALL.max_total_pixels), "--min-page-pixels", str(FLOOR)]
    env = {"QVL_BACKEND": "fake", "QVL_FAKE_REPLIES": json.dumps([json.dumps(VALID_INVOICE)] * 20)}
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(record["windows"]) > 1 and record["key"]
    again = CliRunner().invoke(app, args, env=env)  # already recorded: skipped, still one record
    assert again.exit_code == 0 and len(out.read_text().splitlines()) == 1
    out.unlink()
    cached = CliRunner().invoke(app, args, env=env)  # not recorded, but in the cache
    assert cached.exit_code == 0
    (hit,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert hit["cached"] is True and hit["windows"] == record["windows"] and hit["data"] == record["data"]


@pytest.mark.slow
def test_300_pages_end_to_end_on_the_tiny_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Real pages through real pypdfium2 and real generation: every page at or above the floor,
    several windows, one valid envelope."""
    pages = [PageSpec(width=200, height=260, lines=(f"Row {n}", f"Amount {n}.00")) for n in range(1, 301)]
    pdf = write_pdf(tmp_path / "long.pdf", pages)
    out = tmp_path / "out.jsonl"
    args = ["extract", str(pdf), "-s", "invoice", "--model", str(tiny_model_dir), "-o", str(out), "-q"]
    args += ["--max-total-pixels", str(30 * FLOOR), "--min-page-pixels", str(FLOOR), "--max-new-tokens", "8"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["page_count"] == 300 and len(record["pages"]) == 300
    assert [page["page"] for page in record["pages"]] == list(range(1, 301))
    assert all(page["visual_tokens"] >= 256 for page in record["pages"])
    windows = record["windows"]
    assert len(windows) >= 10 and windows[0]["pages"][0] == 1 and windows[-1]["pages"][1] == 300
    assert all(after["pages"][0] == before["pages"][1] for before, after in zip(windows, windows[1:], strict=False))
    assert all(w["visual_tokens"] <= 30 * 256 and w["finish_reason"] in ("stop", "length") for w in windows)
    assert record["usage"]["visual_tokens"] >= sum(w["visual_tokens"] for w in windows)
    assert isinstance(record["data"], dict) and isinstance(record["origin"], dict)
    assert record["prompt"] == "invoice-v1+window-v1" and record["budget"]["min_page_pixels"] == FLOOR


class ClosingBackend(FakeBackend):
    """The first reply was closed early by the token budget, cutting ``pointer`` short."""

    def __init__(self, replies: list[str], pointer: str):
        super().__init__(replies=replies)
        self.pointer = pointer

    def generate(self, request: GenerationRequest) -> Generation:
        generation = super().generate(request)
        if len(self.calls) > 1:
            return generation
        return replace(generation, finish_reason="length", closing=Closing("budget", (self.pointer,), ()))


def test_a_value_cut_short_in_one_window_but_read_whole_in_the_next_is_no_error(statement: Path) -> None:
    options = {"budget": SMALL, "windows": WindowSettings(min_page_pixels=FLOOR)}
    document = extractor(FakeBackend(), **options).load(statement)
    assert isinstance(document, WindowedDocument)
    spans = [(document.pages.numbers[w.start], document.pages.numbers[w.stop - 1]) for w in document.windows]
    replies = [window_answer(first, last, 40) for first, last in spans]
    cut = json.loads(replies[0])
    last = len(cut["line_items"]) - 1
    cut["line_items"][last]["description"] = cut["line_items"][last]["description"][:-2]
    replies[0] = json.dumps(cut)
    fake = ClosingBackend(replies, f"/line_items/{last}/description")
    envelope = extractor(fake, **options).extract(statement)
    assert envelope.valid, envelope.errors
    assert envelope.truncated is None and envelope.finish_reason == "length"
    assert envelope.data["line_items"] == [item for page in range(1, 41) for item in statement_items(page)]
    assert envelope.to_dict()["windows"][0]["finish_reason"] == "length"


def test_memory_is_given_back_between_windows() -> None:
    """glibc's malloc_trim is found where it exists, and releasing is safe to call at any time."""
    import platform

    from qvl_cli.runs.memory import _malloc_trim, release

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert _malloc_trim() is not None
    release()
    release()


def test_a_windowed_document_no_window_answered_in_json_is_one_invalid_record_and_the_batch_goes_on(
    tmp_path: Path,
) -> None:
    """Every window's answer unreadable: the document's record keeps the text, the next document
    is still extracted, and the run ends with exit 1."""
    long = write_pdf(tmp_path / "long.pdf", [PageSpec(lines=(f"Page {n}",)) for n in range(1, 4)])
    short = write_pdf(tmp_path / "short.pdf", [PageSpec(lines=("Total 8.20",))])
    tiny = ["--max-total-pixels", "20000", "--evidence", "off", "--reask", "0"]
    replies = ["not json {", "not json {", "not json {", json.dumps(VALID_INVOICE)]
    env = {"QVL_BACKEND": "fake", "QVL_FAKE_REPLIES": json.dumps(replies)}
    result = CliRunner().invoke(app, ["extract", str(long), str(short), "-s", "invoice", *tiny], env=env)
    assert result.exit_code == 1, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["file"] == str(long) and not first["valid"] and len(first["windows"]) == 3
    assert first["raw"] == "not json {"
    assert "3 windows of up to 1 page (0 shared by neighbours)" in first["warnings"][0]
    assert second["file"] == str(short) and second["valid"]
