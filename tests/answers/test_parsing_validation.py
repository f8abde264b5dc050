"""Model answers are parsed robustly and validated with formats checked."""

from __future__ import annotations

import json

import pytest

from qvl_cli.answers.parsing import parse_answer
from qvl_cli.answers.validation import make_validator
from qvl_cli.schemas.catalog import load_schema


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '  \n{"a": 1}\n',
        '```json\n{"a": 1}\n```',
        '```\n{"a": 1}\n```',
        'Sure! Here is the JSON:\n{"a": 1}\nLet me know if you need more.',
        'The {braces} in prose come first, then {"a": 1}',
    ],
)
def test_json_is_found(text: str) -> None:
    parsed = parse_answer(text)
    assert parsed.ok and parsed.data == {"a": 1}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "the model returned an empty answer"),
        ("no json here", "the answer contains no JSON object"),
        ('{"a": 1', "the answer is not valid JSON: Expecting ',' delimiter"),
        ('{"a": "line\nbreak"}', "the answer is not valid JSON: Invalid control character"),
    ],
)
def test_unparseable_answers_say_why(text: str, error: str) -> None:
    parsed = parse_answer(text)
    assert not parsed.ok and parsed.data is None
    assert parsed.error is not None and parsed.error.startswith(error)


def test_validation_checks_types_formats_patterns_and_extra_keys() -> None:
    validate = make_validator(load_schema("invoice"))
    data = {
        "vendor": {"name": "A", "address": None, "tax_id": None},
        "customer": {"name": None, "address": None},
        "invoice_number": "1",
        "invoice_date": "2024-02-30",
        "due_date": None,
        "currency": "EUR",
        "line_items": [{"description": "x", "quantity": "two", "unit_price": None, "amount": None}],
        "subtotal": None,
        "tax": None,
        "total": 3,
        "notes": "extra",
    }
    issues = {issue.path: issue.message for issue in validate(data)}
    assert set(issues) == {"", "/invoice_date", "/line_items/0/quantity"}
    assert "'notes' was unexpected" in issues[""]
    assert "is not a 'date'" in issues["/invoice_date"]
    assert "is not of type 'number', 'null'" in issues["/line_items/0/quantity"]


@pytest.mark.parametrize(
    ("format_", "good", "bad"),
    [
        ("date", "2024-02-29", "2024-02-30"),
        ("date-time", "2024-02-29T10:00:00Z", "2024-02-29 10h"),
        ("email", "billing@example.com", "billing at example"),
        ("uri", "https://example.com/invoice/7", "example.com invoice"),
        ("ipv4", "10.0.0.1", "10.0.0.300"),
    ],
)
def test_formats_are_checked(format_: str, good: str, bad: str, tmp_path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"type": "object", "properties": {"v": {"type": "string", "format": format_}}}))
    validate = make_validator(load_schema(str(path)))
    assert validate({"v": good}) == []
    assert [issue.path for issue in validate({"v": bad})] == ["/v"]


def test_iri_format_is_not_checked(tmp_path) -> None:
    """As the README says: qvl does not install the grammar for IRIs (slow to import)."""
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"type": "object", "properties": {"v": {"type": "string", "format": "iri"}}}))
    assert make_validator(load_schema(str(path)))({"v": "not an iri"}) == []


CUT_OFF = '{"vendor": {"name": "ACME", "address": null}, "invoice_number": "12'


@pytest.mark.parametrize(
    "text",
    [CUT_OFF, 'Here: {"a": {"b": 1}, "c": "x', '```json\n{"a": [{"b": 1}], "c": ', '{"a": "}{", "b": {"c": 1}, "d'],
)
def test_a_cut_off_answer_is_never_taken_for_one_of_its_inner_objects(text: str) -> None:
    parsed = parse_answer(text)
    assert not parsed.ok and parsed.data is None


def test_a_cut_off_answer_is_repaired_as_a_whole() -> None:
    from qvl_cli.answers.assess import assess_answer
    from qvl_cli.backends.contract import Generation

    schema = load_schema("invoice")
    answer = assess_answer(Generation(CUT_OFF, 0, 0, 0, "length"), schema, make_validator(schema))
    assert answer.data["vendor"] == {"name": "ACME", "address": None}
    assert answer.data["invoice_number"] == "12"
    assert "name" not in answer.data
    assert answer.closing is not None and "/invoice_number" in answer.closing.cut


@pytest.mark.slow
def test_tiny_model_cut_by_a_small_budget_answers_the_whole_schema(tiny_model_dir, tmp_path) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    invoice = Path(__file__).resolve().parents[2] / "examples" / "invoice.pdf"
    result = subprocess.run(
        [sys.executable, "-m", "qvl_cli", "extract", str(invoice), "-s", "invoice", "--model", str(tiny_model_dir),
         "--max-new-tokens", "40", "--max-pixels", "50000", "--reask", "0", "--no-cache"],
        capture_output=True, text=True, env=dict(os.environ), timeout=300,
    )  # fmt: skip
    record = json.loads(result.stdout)
    schema_keys = set(load_schema("invoice").document["properties"])
    assert set(record["data"]) == schema_keys, record["data"]
    assert record["truncated"] is not None and not record["valid"]


@pytest.mark.parametrize("text", ["not json at all {", "I cannot read this page. {\n", "```json\n{\n```"])
def test_prose_ending_in_a_lone_brace_is_not_json_and_is_kept_raw(text: str) -> None:
    """A model that stopped on its own after a bare ``{`` wrote no JSON: no data invented from it."""
    from qvl_cli.answers.assess import assess_answer
    from qvl_cli.backends.contract import Generation

    schema = load_schema("form")
    answer = assess_answer(Generation(text, 10, 5, 0, "stop"), schema, make_validator(schema))
    assert not answer.parsed and answer.data is None and answer.closing is None
    assert [(issue.path, issue.message.split(":")[0]) for issue in answer.issues] == [
        ("", "the answer is not valid JSON")
    ]


def test_a_lone_brace_cut_by_the_budget_is_still_closed_and_marked() -> None:
    from qvl_cli.answers.assess import assess_answer
    from qvl_cli.backends.contract import Generation

    schema = load_schema("form")
    answer = assess_answer(Generation("Here: {", 10, 5, 0, "length"), schema, make_validator(schema))
    assert answer.parsed and answer.closing is not None and answer.closing.reason == "budget"
    assert set(answer.data) == set(schema.document["required"])
