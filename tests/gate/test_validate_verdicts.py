"""`qvl validate` on qvl records corrected by hand: schema errors are derived again from the data
as it is now; only what the schema cannot see is kept from the record, saying how to clear it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli, fake
from pdf_factory import PageSpec, write_pdf
from samples import VALID_INVOICE

SCHEMA = {
    "type": "object",
    "required": ["invoice_number", "total"],
    "properties": {"invoice_number": {"type": "string", "pattern": "^INV-[0-9]+$"}, "total": {"type": "number"}},
}
LOCATE_HINT = "(once corrected, run qvl locate on the records to look for it again)"
TRUNCATED_HINT = '(once corrected, remove the record\'s "truncated" key)'


@pytest.fixture
def schema(tmp_path: Path) -> Path:
    path = tmp_path / "invoice-lite.json"
    path.write_text(json.dumps(SCHEMA))
    return path


def extract(pdf: Path, schema: Path, out: Path, answer: dict[str, object], *flags: str) -> dict[str, object]:
    result = cli("extract", str(pdf), "-s", str(schema), "-o", str(out), *flags, env=fake(answer, answer))
    assert result.exit_code == 1, result.output
    record: dict[str, object] = json.loads(out.read_text())
    return record


def rewrite(path: Path, record: dict[str, object]) -> None:
    path.write_text(json.dumps(record) + "\n")


def validate(path: Path, schema: Path | str) -> tuple[int, list[str]]:
    result = cli("validate", str(path), "--schema", str(schema))
    return result.exit_code, result.stdout.splitlines()


def test_a_record_corrected_by_hand_passes_and_evidence_is_kept_until_located(tmp_path: Path, schema: Path) -> None:
    """Extracted with --require-evidence: a number breaking the pattern and a total never printed."""
    pdf = write_pdf(tmp_path / "inv.pdf", [PageSpec(lines=("Invoice number INV_7", "Total 1,234.50 EUR"))])
    run = tmp_path / "run.jsonl"
    record = extract(pdf, schema, run, {"invoice_number": "INV_7", "total": 7919.37}, "--require-evidence")
    assert record["valid"] is False
    assert {"path": "/total", "message": "does not appear in the document (--require-evidence)"} in record["errors"]
    code, lines = validate(run, schema)
    assert code == 1
    assert lines == [
        f"{run}:1: /invoice_number: 'INV_7' does not match '^INV-[0-9]+$'",
        f"{run}:1: /total: does not appear in the document (--require-evidence) {LOCATE_HINT}",
        "1 document checked: 0 passed, 1 failed (2 problems)",
    ]
    record["data"] = {"invoice_number": "INV-7", "total": 1234.5}  # corrected by hand
    rewrite(run, record)
    code, lines = validate(run, schema)
    assert code == 1  # the stored schema error is gone; the total was never looked for again
    assert lines[0] == f"{run}:1: /total: does not appear in the document (--require-evidence) {LOCATE_HINT}"
    located = tmp_path / "located.jsonl"
    assert cli("locate", str(run), "-o", str(located)).exit_code == 0
    assert validate(located, schema) == (0, ["1 document checked: 1 passed, 0 failed (0 problems)"])


def test_stored_schema_errors_alone_never_fail_the_corrected_data(tmp_path: Path, schema: Path) -> None:
    pdf = write_pdf(tmp_path / "inv.pdf", [PageSpec(lines=("Invoice number INV_7", "Total 1,234.50 EUR"))])
    run = tmp_path / "run.jsonl"
    record = extract(pdf, schema, run, {"invoice_number": "INV_7", "total": 1234.5})
    assert record["errors"] == [{"path": "/invoice_number", "message": "'INV_7' does not match '^INV-[0-9]+$'"}]
    record["data"] = {"invoice_number": "INV-7", "total": 1234.5}
    rewrite(run, record)  # still "valid": false, its errors as extract wrote them
    assert validate(run, schema) == (0, ["1 document checked: 1 passed, 0 failed (0 problems)"])


def test_a_truncated_value_fails_until_the_truncated_key_is_removed(tmp_path: Path) -> None:
    message = "value cut short: the answer reached the --max-new-tokens budget"
    record = {
        "file": "a.pdf",
        "valid": False,
        "data": VALID_INVOICE | {"invoice_number": "NW-20"},
        "truncated": {"reason": "budget", "cut": ["/invoice_number"], "added": ["/total"]},
        "errors": [{"path": "/invoice_number", "message": message}],
    }
    run = tmp_path / "run.jsonl"
    rewrite(run, record)
    code, lines = validate(run, "invoice")
    assert code == 1  # the values have the right types: only the record knows they were cut short
    assert lines == [
        f"{run}:1: /invoice_number: {message} {TRUNCATED_HINT}",
        f"{run}:1: /total: not extracted: filled in when the answer was closed {TRUNCATED_HINT}",
        "1 document checked: 0 passed, 1 failed (2 problems)",
    ]
    record["data"] = VALID_INVOICE | {"invoice_number": "NW-2024-0117"}
    rewrite(run, record)
    assert validate(run, "invoice")[0] == 1  # corrected, but still marked truncated
    del record["truncated"]
    rewrite(run, record)
    assert validate(run, "invoice") == (0, ["1 document checked: 1 passed, 0 failed (0 problems)"])


def test_whole_document_verdicts_are_kept_until_their_entry_is_removed(tmp_path: Path) -> None:
    window = "pages 3-4: the answer is not valid JSON: Expecting value at character 0"
    schema_error = {"path": "/total", "message": "'x' is not of type 'number', 'null'"}
    record = {"file": "a.pdf", "valid": False, "data": VALID_INVOICE, "errors": [{"path": "", "message": window},
                                                                                 schema_error]}  # fmt: skip
    run = tmp_path / "run.jsonl"
    rewrite(run, record)
    code, lines = validate(run, "invoice")
    assert code == 1
    assert lines[:-1] == [f'{run}:1: {window} (once corrected, remove this entry from the record\'s "errors")']
    rewrite(run, record | {"errors": [schema_error]})
    assert validate(run, "invoice")[0] == 0


def test_a_record_marked_invalid_without_any_error_says_how_to_clear_it(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    rewrite(run, {"file": "a.pdf", "valid": False, "data": VALID_INVOICE})
    code, lines = validate(run, "invoice")
    assert code == 1
    assert lines[0] == (
        f"{run}:1: qvl extract marked this result invalid without saying why"
        ' (once checked, set the record\'s "valid" to true)'
    )
    rewrite(run, {"file": "a.pdf", "valid": True, "data": VALID_INVOICE})
    assert validate(run, "invoice")[0] == 0


def test_the_verdicts_validate_keeps_are_those_extract_writes() -> None:
    """The messages recognised are the producers' own (a renamed message must not slip through)."""
    from qvl_cli.answers.assess import truncation_issues
    from qvl_cli.answers.decoding import Closing
    from qvl_cli.runs.verdicts import CUT_PREFIXES

    for reason in ("budget", "repetition", "incomplete"):
        for issue in truncation_issues(Closing(reason, ("/a",), ("/b",))):
            assert issue.message.startswith(CUT_PREFIXES)
