"""Extraction logic around the model, with a fake backend: re-asks, blank pages, repair, checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf
from samples import VALID_INVOICE

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
    assert [call.max_new_tokens for call in fake.calls] == [2519, 99]


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

    examples = Path(__file__).resolve().parent.parent / "examples"
    assert not any(is_blank(page.image) for page in render_document(examples / name, PixelBudget()).pages)
