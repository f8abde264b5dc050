"""Extraction logic around the model, with a fake backend: re-asks, blank pages, repair, checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import EXAMPLES
from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf
from samples import VALID_INVOICE

from qvl_cli.answers.guards import token_budget
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

INVOICE = VALID_INVOICE | {
    "line_items": [{"description": "Widget", "quantity": 2, "unit_price": 5, "amount": 10}],
    "subtotal": 10,
    "tax": 1.9,
    "total": 11.9,
}


def extractor(fake: FakeBackend, **options) -> Extractor:
    schema = load_schema("invoice")
    return Extractor(schema, load_prompt(None, schema), ExtractOptions(**options), lambda: fake)


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "invoice.pdf", [PageSpec(lines=("INVOICE A-1", "Total 11.90"))])


def test_invalid_answer_is_reasked_once_with_its_errors(pdf: Path) -> None:
    fake = FakeBackend(replies=[json.dumps(INVOICE | {"currency": "euro"}), json.dumps(INVOICE)])
    envelope = extractor(fake).extract(pdf)
    assert envelope.valid and envelope.attempts == 2
    assert envelope.reasks == ({"errors": [{"path": "/currency", "message": "'euro' does not match '^[A-Z]{3}$'"}]},)
    first, second = fake.calls
    assert first.followups == ()
    assistant, feedback = second.followups
    assert (assistant.role, json.loads(assistant.text)["currency"]) == ("assistant", "euro")
    assert feedback.role == "user" and "- /currency: 'euro' does not match" in feedback.text
    assert second.image_sizes == first.image_sizes


def test_reasks_are_bounded_and_the_best_attempt_wins(pdf: Path) -> None:
    worse = json.dumps(INVOICE | {"currency": "euro", "invoice_date": "soon"})
    bad = json.dumps(INVOICE | {"currency": "euro"})
    fake = FakeBackend(replies=[bad, worse, json.dumps(INVOICE)])
    envelope = extractor(fake, reasks=1).extract(pdf)
    assert len(fake.calls) == 2
    assert not envelope.valid and envelope.attempts == 2
    assert [issue.path for issue in envelope.errors] == ["/currency"]
    assert envelope.usage.generated_tokens == sum(len(r.split()) for r in (bad, worse))


def test_no_reask_when_disabled(pdf: Path) -> None:
    fake = FakeBackend(replies=[json.dumps(INVOICE | {"currency": "euro"})])
    envelope = extractor(fake, reasks=0).extract(pdf)
    assert envelope.attempts == 1 and len(fake.calls) == 1 and not envelope.valid


def test_blank_document_never_reaches_the_model(tmp_path: Path) -> None:
    blank = write_pdf(tmp_path / "blank.pdf", [PageSpec(lines=())] * 2)
    fake = FakeBackend()
    envelope = extractor(fake).extract(blank)
    assert fake.calls == []
    assert envelope.data["invoice_number"] is None and envelope.data["line_items"] == []
    assert envelope.valid  # nulls are what the schema allows for absent values
    assert "every page is blank: nothing was extracted and all values are null" in envelope.warnings
    assert envelope.model is None and envelope.attempts == 0


def test_blank_pages_are_left_out_of_the_conversation(tmp_path: Path) -> None:
    mixed = write_pdf(tmp_path / "mixed.pdf", [PageSpec(lines=("INVOICE " * 8,) * 6), PageSpec(lines=())])
    fake = FakeBackend(replies=[json.dumps(INVOICE)])
    envelope = extractor(fake).extract(mixed)
    assert len(fake.calls[0].image_sizes) == 1
    assert "page 2 is blank and was not sent to the model" in envelope.warnings
    assert [page["blank"] for page in envelope.pages] == [False, True]


def test_cut_off_unconstrained_answer_is_repaired_and_marked(pdf: Path) -> None:
    fake = FakeBackend(replies=['Here: {"vendor": {"name": "ACME Cor'])
    envelope = extractor(fake, constrain=False, reasks=0).extract(pdf)
    assert envelope.data["vendor"]["name"] == "ACME Cor"
    assert envelope.data["total"] is None
    assert envelope.truncated["reason"] == "incomplete"
    assert envelope.truncated["cut"] == ["/vendor/name"]
    assert "/total" in envelope.truncated["added"]
    assert not envelope.valid
    assert {"path": "/vendor/name", "message": "value cut short: the answer ended in the middle of the JSON"} in [
        issue.to_dict() for issue in envelope.errors
    ]


def test_invoice_sanity_warnings_reach_the_envelope(pdf: Path) -> None:
    fake = FakeBackend(replies=[json.dumps(INVOICE | {"total": 20.0})])
    envelope = extractor(fake).extract(pdf)
    assert envelope.valid
    assert "subtotal 10.00 + tax 1.90 = 11.90, but total is 20.00" in envelope.warnings


def test_token_budget_comes_from_the_schema_unless_given(pdf: Path) -> None:
    fake = FakeBackend(replies=[json.dumps(INVOICE)] * 2)
    extractor(fake).extract(pdf)
    extractor(fake, max_new_tokens=99).extract(pdf)
    assert [call.max_new_tokens for call in fake.calls] == [token_budget(load_schema("invoice").document), 99]


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        # README: strings 24 tokens, numbers 6, 20 items per array, keys ~len/3+3, braces 2;
        # times 1.5 plus 32, between 256 and 4096. Worked out by hand:
        ({"a": {"type": "string"}}, 256),  # 2 + 3 + 24 = 29 -> 75, raised to the floor
        ({f"field{i}": {"type": "string"} for i in range(10)}, 470),  # 2 + 10 * (5 + 24) = 292 -> 470
        ({"n": {"type": "array", "items": {"type": "number"}}}, 256),  # 2 + 3 + 2 + 20 * 7 = 147 -> 252
        ({"n": {"type": "array", "items": {"type": "string"}}}, 792),  # 2 + 3 + 2 + 20 * 25 = 507 -> 792
        ({f"k{i:03d}": {"type": "array", "items": {"type": "string"}} for i in range(10)}, 4096),  # capped
    ],
)  # fmt: skip
def test_token_budget_follows_the_documented_rule(properties: dict, expected: int) -> None:
    assert token_budget({"type": "object", "properties": properties}) == expected


def test_blank_page_detection() -> None:
    from PIL import Image, ImageDraw

    from qvl_cli.answers.guards import is_blank

    page = Image.new("RGB", (850, 1100), (250, 248, 240))  # off-white paper
    assert is_blank(page)
    dusty = page.copy()
    for x in range(0, 850, 170):
        dusty.putpixel((x, 500), (0, 0, 0))  # a few specks of dust
    assert is_blank(dusty)
    note = page.copy()
    ImageDraw.Draw(note).text((400, 900), "Total: 12.00", fill=(30, 30, 30))
    assert not is_blank(note)


@pytest.mark.parametrize("name", ["invoice.pdf", "form.png", "chart.png", "multilingual.png"])
def test_examples_are_not_blank(name: str) -> None:
    from qvl_cli.answers.guards import is_blank
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.rasterize import render_document

    examples = EXAMPLES
    assert not any(is_blank(page.image) for page in render_document(examples / name, PixelBudget()).pages)


def test_text_that_renders_blank_is_an_error_not_an_empty_page(tmp_path: Path) -> None:
    """A page whose text layer has text but renders white (fonts neither embedded nor installed)."""
    doc = write_pdf(tmp_path / "ghost.pdf", [PageSpec(lines=("INVOICE 77", "Total 5.00"), invisible=True)])
    fake = FakeBackend(replies=[json.dumps(INVOICE)])
    envelope = extractor(fake).extract(doc)
    assert fake.calls == []  # the model would see a white page
    assert not envelope.valid
    (problem,) = [issue.to_dict() for issue in envelope.errors if "renders blank" in issue.message]
    assert problem["path"] == ""
    assert re.match(
        r"page 1 renders blank but has (2[0-9]) characters of text: its fonts are not embedded", problem["message"]
    )
    assert "fonts-noto-cjk" in problem["message"]


def test_a_truly_blank_page_is_still_valid_and_empty(tmp_path: Path) -> None:
    doc = write_pdf(tmp_path / "empty.pdf", [PageSpec(lines=())])
    envelope = extractor(FakeBackend(replies=[])).extract(doc)
    assert envelope.errors == () or all("renders blank" not in issue.message for issue in envelope.errors)


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["noembed-sjis.pdf", "noembed-eucjp.pdf"])
def test_pdfs_with_fonts_not_embedded_are_not_called_valid(corpus: Path, name: str) -> None:
    import pypdfium2 as pdfium

    from qvl_cli.answers.guards import is_blank

    path = corpus / "pdfjs" / "docs" / name
    fake = FakeBackend(replies=[json.dumps(INVOICE)])
    envelope = extractor(fake).extract(path)
    rendered_blank = is_blank(pdfium.PdfDocument(path)[0].render(scale=1).to_pil())
    if not rendered_blank:
        pytest.skip("this machine has fonts for the page (e.g. fonts-noto-cjk): it renders")
    assert not envelope.valid
    assert any("page 1 renders blank but has 5 characters of text" in issue.message for issue in envelope.errors)
