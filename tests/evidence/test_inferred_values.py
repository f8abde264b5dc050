"""Values a schema marks as judged, not printed (``x-qvl-inferred``), and currency codes printed
as their signs: evidence tells them apart from values not found, without hiding real misses."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli, fake
from pdf_factory import PageSpec, write_pdf
from samples import VALID_INVOICE

from qvl_cli.schemas.catalog import load_schema

INFERRED = {"inferred": True}


def extract(pdf: Path, schema: str, answer: dict[str, object], *flags: str) -> tuple[int, dict[str, object]]:
    result = cli(
        "extract", str(pdf), "-s", schema, "--evidence", "text", "--no-cache", *flags, env=fake(answer, answer)
    )
    return result.exit_code, json.loads(result.stdout)


def test_language_codes_and_translations_are_not_reported_as_invented(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "letter.pdf", [PageSpec(lines=("Guten Tag", "Hello world"))])
    answer = {
        "languages": ["de", "en"],
        "blocks": [
            {"text": "Guten Tag", "language": "de", "translation": "Good day"},
            {"text": "Hello world", "language": "en", "translation": None},
        ],
    }
    code, record = extract(pdf, "multilingual", answer, "--require-evidence")
    assert code == 0 and record["valid"] is True and record["errors"] == []
    assert record["warnings"] == []
    evidence = record["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["/languages/0"] == evidence["/languages/1"] == INFERRED
    assert evidence["/blocks/0/language"] == evidence["/blocks/0/translation"] == INFERRED
    assert evidence["/blocks/0/text"]["text"] == "Guten Tag"
    assert list(evidence) == ["/languages/0", "/languages/1", "/blocks/0/text", "/blocks/0/language",
                              "/blocks/0/translation", "/blocks/1/text", "/blocks/1/language"]  # fmt: skip


def test_printed_values_beside_inferred_ones_are_still_checked(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "letter.pdf", [PageSpec(lines=("Guten Tag",))])
    answer = {"languages": ["de"], "blocks": [{"text": "Guten Abend", "language": "de", "translation": "Good evening"}]}
    code, record = extract(pdf, "multilingual", answer, "--require-evidence")
    assert code == 1
    assert record["errors"] == [
        {"path": "/blocks/0/text", "message": "does not appear in the document (--require-evidence)"}
    ]


def test_the_keyword_covers_what_it_holds_and_the_model_never_reads_it(tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {
            "doc_type": {"type": "string", "x-qvl-inferred": True},
            "judgement": {"type": "object", "x-qvl-inferred": True, "properties": {"tone": {"type": "string"}}},
            "title": {"type": "string"},
        },
    }
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(schema))
    assert "x-qvl-inferred" not in load_schema(str(path)).prompt_text
    pdf = write_pdf(tmp_path / "memo.pdf", [PageSpec(lines=("Quarterly memo",))])
    answer = {"doc_type": "memo note", "judgement": {"tone": "friendly"}, "title": "Quarterly memo"}
    code, record = extract(pdf, str(path), answer, "--require-evidence")
    assert code == 0 and record["warnings"] == []
    assert record["evidence"]["/doc_type"] == record["evidence"]["/judgement/tone"] == INFERRED  # type: ignore[index]
    located = cli("locate", "-", stdin=json.dumps({"file": str(pdf), "schema": str(path), "data": answer}) + "\n")
    assert located.exit_code == 0
    assert "1 record: 1 value located, 0 not found" in located.stderr


def test_a_currency_code_is_found_as_the_sign_the_document_prints(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "bill.pdf", [PageSpec(lines=("Invoice A-1 of 2024-01-31", "Total £ 10.50"))])
    answer = VALID_INVOICE | {"currency": "GBP", "vendor": {"name": None, "address": None, "tax_id": None}}
    code, record = extract(pdf, "invoice", answer, "--require-evidence")
    assert code == 0, record["errors"]
    assert record["evidence"]["/currency"]["text"] == "£"  # type: ignore[index]
    code, record = extract(pdf, "invoice", answer | {"currency": "USD"}, "--require-evidence")
    assert code == 1  # a code whose sign is not printed either is still a value not found
    assert record["errors"] == [
        {"path": "/currency", "message": "does not appear in the document (--require-evidence)"}
    ]


def test_review_does_not_count_inferred_values_as_fields_without_evidence() -> None:
    from qvl_cli.review.fields import fields_of, leaves

    record = {
        "data": {"languages": ["de"], "title": "Guten Tag", "note": "x"},
        "evidence": {"/languages/0": INFERRED, "/title": {"page": 1, "boxes": [[0.1, 0.1, 0.2, 0.2]]}, "/note": None},
    }
    unlocated = {field.pointer: field.unlocated for field in leaves(fields_of(record, 0.5))}
    assert unlocated == {"/languages/0": False, "/title": False, "/note": True}


def test_a_grounded_rule_passes_inferred_values_and_fails_values_not_found() -> None:
    from qvl_cli.gate.config import Rule
    from qvl_cli.gate.rules import evaluate
    from qvl_cli.runs.records import Envelope

    record = {
        "file": "a.pdf",
        "data": {"languages": ["de"], "blocks": [{"text": "Guten Abend", "language": "de", "translation": "Hi"}]},
        "errors": [],
        "evidence": {"/languages/0": INFERRED, "/blocks/0/text": None, "/blocks/0/language": INFERRED,
                     "/blocks/0/translation": INFERRED},
        "warnings": ['/blocks/0/text "Guten Abend" does not appear in the document'],
    }  # fmt: skip
    findings = evaluate(Envelope.from_dict(record), Rule(("*.pdf",), "multilingual", grounded=True))
    assert [(f.pointer, f.message) for f in findings] == [
        ("/blocks/0/text", '"Guten Abend" does not appear in the document')
    ]
