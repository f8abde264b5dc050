"""Pages without a text layer under ``--evidence text`` (a scan, an image) were never searched:
their values are not reported as invented, one warning says why, and ``--require-evidence`` and
``grounded`` rules fail with that reason instead of passing."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, cli, fake
from pdf_factory import PageSpec, write_pdf
from PIL import Image, ImageDraw

from qvl_cli.evidence.locate import locate
from qvl_cli.evidence.text import Line, PageText
from qvl_cli.gate.config import Rule
from qvl_cli.gate.rules import ERROR, evaluate
from qvl_cli.runs.records import Envelope

SCAN = ROOT / "examples" / "invoice.pdf"  # two scanned pages, no text layer
ANSWER = json.loads((ROOT / "examples" / "invoice.expected.json").read_text())
NOT_SEARCHED = {"searched": False}
ADVICE = "(--evidence text reads text layers only: use --evidence auto or ocr)"


def extract(path: Path, schema: str, answer: object, *flags: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = cli("extract", str(path), "-s", schema, "--no-cache", *flags, env=fake(answer, answer))
    return result.exit_code, json.loads(result.stdout)


def test_a_scan_read_for_text_only_reports_no_value_as_invented() -> None:
    code, record = extract(SCAN, "invoice", ANSWER, "--evidence", "text")
    assert code == 0 and record["valid"] is True
    values = [pointer for pointer, entry in record["evidence"].items() if entry is not None]
    assert len(values) > 20 and all(record["evidence"][p] == NOT_SEARCHED for p in values)
    warning = f"pages 1-2 have no text layer, so {len(values)} values could not be looked for there {ADVICE}"
    assert record["warnings"] == [warning]


def test_require_evidence_with_nothing_searchable_fails_naming_the_reason() -> None:
    code, record = extract(SCAN, "invoice", ANSWER, "--evidence", "text", "--require-evidence")
    assert code == 1 and record["valid"] is False
    count = sum(entry == NOT_SEARCHED for entry in record["evidence"].values())
    assert record["errors"] == [{"path": "", "message": f"pages 1-2 have no text layer, so --require-evidence could "
                                 f"not check {count} values (use --evidence auto or ocr)"}]  # fmt: skip


def test_an_image_has_no_text_layer(tmp_path: Path) -> None:
    image = Image.new("RGB", (600, 300), "white")
    ImageDraw.Draw(image).text((40, 40), "Invoice A-1 Total 10.50", fill="black")
    path = tmp_path / "scan.png"
    image.save(path)
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"total": {"type": "number"}}}))
    code, record = extract(path, str(schema), {"total": 10.5}, "--evidence", "text")
    assert code == 0 and record["evidence"] == {"/total": NOT_SEARCHED}
    assert record["warnings"] == [f"page 1 has no text layer, so 1 value could not be looked for there {ADVICE}"]
    located = cli("locate", "-", "--evidence", "text", stdin=json.dumps({"file": str(path), "data": {"total": 1}}))
    assert "0 values located, 0 not found, 1 not looked for (no text layer)" in located.stderr


def test_an_empty_page_without_a_picture_hides_no_invented_value(tmp_path: Path) -> None:
    """A blank page has nothing printed to find: a value printed nowhere is still not found."""
    pdf = write_pdf(tmp_path / "two.pdf", [PageSpec(lines=("Total 10.50",)), PageSpec(lines=())])
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"total": {"type": "number"}}}))
    code, record = extract(pdf, str(schema), {"total": 99.5}, "--evidence", "text", "--require-evidence")
    assert code == 1
    assert record["errors"] == [{"path": "/total", "message": "does not appear in the document (--require-evidence)"}]


def test_values_read_from_searched_pages_are_still_checked() -> None:
    """In a document read in windows, a value read from pages with text is looked for there."""
    text = PageText(1, "text", (Line("Total 10.50", tuple((0.1 + 0.01 * i, 0.1, 0.11 + 0.01 * i, 0.12)
                                                                for i in range(11))),))  # fmt: skip
    blind = PageText(2, "none")
    origin = {"/total": [1, 1], "/tax": [2, 2], "/name": [1, 2]}
    found = locate({"total": 99.5, "tax": 1.5, "name": "Anna"}, [text, blind], origin=origin)
    assert found.missing == (("/total", 99.5),)
    assert found.unsearched == ("/tax", "/name")
    assert found.evidence["/tax"] == found.evidence["/name"] == NOT_SEARCHED


def test_a_grounded_rule_fails_once_with_the_reason() -> None:
    warning = f"page 1 has no text layer, so 2 values could not be looked for there {ADVICE}"
    record = {
        "file": "a.png",
        "data": {"total": 10.5, "number": "A-1"},
        "errors": [],
        "evidence": {"/total": NOT_SEARCHED, "/number": NOT_SEARCHED},
        "warnings": [warning],
    }
    findings = evaluate(Envelope.from_dict(record), Rule(("*.png",), "invoice", grounded=True))
    assert [(f.pointer, f.message, f.severity) for f in findings] == [("", f"grounded = true, but {warning}", ERROR)]


def test_validate_keeps_the_reason_until_the_values_are_looked_for(tmp_path: Path) -> None:
    code, record = extract(SCAN, "invoice", ANSWER, "--evidence", "text", "--require-evidence")
    run = tmp_path / "run.jsonl"
    run.write_text(json.dumps(record) + "\n")
    result = cli("validate", str(run), "-s", "invoice")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].endswith(
        "(use --evidence auto or ocr) (once corrected, run qvl locate --evidence auto on the records to look for them)"
    )
    record["evidence"] = {pointer: {"page": 1, "boxes": []} for pointer in record["evidence"]}  # as located
    run.write_text(json.dumps(record) + "\n")
    assert cli("validate", str(run), "-s", "invoice").exit_code == 0
