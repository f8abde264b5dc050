"""``qvl review`` without a browser: records in, fields tree, page images, the command's behaviour."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, qvl
from review_helpers import invoice_record
from typer.testing import CliRunner

from qvl_cli.cli import app
from qvl_cli.errors import InputError
from qvl_cli.pages.inputs import file_sha256
from qvl_cli.review.fields import fields_of, leaves
from qvl_cli.review.pages import locate_file, page_images
from qvl_cli.review.records import load_records


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["review", *args], catch_exceptions=False)


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_fields_follow_the_data_with_tables_errors_and_warnings(invoice_pdf: Path) -> None:
    record = invoice_record(
        invoice_pdf,
        valid=False,
        errors=[
            {"path": "/line_items/1/amount", "message": "124 is not a multiple of 7"},
            {"path": "/vendor/missing", "message": "attached to its parent"},
        ],
        warnings=["low confidence 0.30 < 0.50 at /invoice_date", "not about /line_items/10/amount"],
    )
    record["data"]["a/b~c"] = "key with a slash"
    tree = fields_of(record, threshold=0.5)
    kinds = {node.label: node.kind for node in tree}
    assert kinds == {
        "vendor": "object",
        "invoice_number": "field",
        "invoice_date": "field",
        "line_items": "table",
        "total": "field",
        "a/b~c": "field",
    }
    (table,) = [node for node in tree if node.kind == "table"]
    assert table.columns == ("description", "amount") and [row[0] for row in table.rows] == [
        "/line_items/0",
        "/line_items/1",
    ]
    rows = {row.pointer: row for row in leaves(tree)}
    assert "/a~1b~0c" in rows
    assert rows["/line_items/1/amount"].errors == ("124 is not a multiple of 7",)
    assert next(node for node in tree if node.label == "vendor").errors == ("attached to its parent",)
    assert rows["/invoice_date"].warnings == ("low confidence 0.30 < 0.50 at /invoice_date",)
    assert rows["/line_items/1/amount"].warnings == ()  # /line_items/10/amount is another field
    assert rows["/invoice_date"].printed == "14.03.2024" and rows["/invoice_date"].low
    assert rows["/total"].located and not rows["/total"].low
    assert rows["/vendor/tax_id"].kind == "null" and not rows["/vendor/tax_id"].unlocated
    assert rows["/total"].seen is None  # "598.57" on the page says nothing more than the value


def test_text_read_on_the_page_shows_when_it_differs() -> None:
    box = {"page": 1, "boxes": [[0.1, 0.1, 0.2, 0.2]], "source": "ocr"}
    record = {
        "data": {"a": "Blue Harbor Ltd", "b": "Leeds LS1", "c": 503.0},
        "evidence": {"/a": box | {"text": "BlueHarbor  ltd"}, "/b": box | {"text": "Leeds LSI"}, "/c": box},
        "normalized": {"/c": {"raw": "EUR 503,00", "value": 503.0}},
    }
    record["evidence"]["/c"] = box | {"text": "EUR 503,00"}
    rows = {row.pointer: row for row in leaves(fields_of(record, 0.5))}
    assert rows["/a"].seen is None and rows["/b"].seen == "Leeds LSI" and rows["/c"].seen is None


def test_pages_are_drawn_at_their_recorded_sizes(invoice_pdf: Path) -> None:
    from PIL import Image

    record = invoice_record(invoice_pdf)
    pages = page_images(record, None, None)
    assert pages.problem is None
    assert [(p.number, p.width, p.height) for p in pages.pages] == [
        (entry["page"], *entry["size"]) for entry in record["pages"]
    ]
    header, payload = pages.pages[0].image.split(",", 1)  # type: ignore[union-attr]
    assert header == "data:image/webp;base64"
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    assert image.size == tuple(record["pages"][0]["size"])
    assert image.convert("L").getextrema()[0] < 100  # the text is drawn


def test_a_record_without_pages_is_rendered_under_its_budget(invoice_pdf: Path) -> None:
    record = invoice_record(invoice_pdf, pages=[], budget={"min_pixels": 3136, "max_pixels": 200704})
    pages = page_images(record, None, None)
    assert len(pages.pages) == 2
    assert all(p.width * p.height <= 200704 and p.image for p in pages.pages)


def test_a_missing_file_shows_missing_pages_and_still_the_fields(tmp_path: Path, invoice_pdf: Path) -> None:
    record = invoice_record(invoice_pdf)
    invoice_pdf.unlink()
    source = write_jsonl(tmp_path / "run.jsonl", [record])
    report = tmp_path / "out.html"
    result = run(str(source), "-o", str(report))
    assert result.exit_code == 0
    assert f"run.jsonl:1: file not found: {invoice_pdf}" in result.stderr
    html = report.read_text()
    assert html.count('class="page-missing" data-page=') == 2
    assert 'data-pointer="/invoice_number"' in html and "NW-2024-0117" in html


def test_a_changed_file_is_noted(tmp_path: Path, invoice_pdf: Path) -> None:
    record = invoice_record(invoice_pdf, sha256="0" * 64)
    assert "changed since it was extracted" in (page_images(record, None, None).problem or "")


def test_relative_paths_are_also_found_beside_the_records(
    tmp_path: Path, invoice_pdf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_jsonl(tmp_path / "run.jsonl", [invoice_record(invoice_pdf, file="invoice.pdf")])
    monkeypatch.chdir(tmp_path.parent)
    loaded = load_records([str(source)])
    pages = page_images(loaded.records[0].record, loaded.records[0].base, None)
    assert pages.problem is None and all(p.image for p in pages.pages)


def test_relative_paths_are_looked_for_above_the_records_nearest_first(
    tmp_path: Path, invoice_pdf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records made in ``project/`` with ``-o out/run.jsonl`` name ``docs/a.pdf``: found from anywhere."""
    project = tmp_path / "project"
    (project / "docs").mkdir(parents=True)
    (project / "out" / "docs").mkdir(parents=True)
    (project / "docs" / "a.pdf").write_bytes(invoice_pdf.read_bytes())
    source = write_jsonl(project / "out" / "run.jsonl", [invoice_record(invoice_pdf, file="docs/a.pdf")])
    monkeypatch.chdir(tmp_path)
    loaded = load_records([str(source)])
    base = loaded.records[0].base
    assert locate_file("docs/a.pdf", base) == project / "docs" / "a.pdf"
    (project / "out" / "docs" / "a.pdf").write_bytes(invoice_pdf.read_bytes())  # nearer the records: it wins
    assert locate_file("docs/a.pdf", base) == project / "out" / "docs" / "a.pdf"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.pdf").write_bytes(b"%PDF-")  # in the working folder: as given comes first
    assert locate_file("docs/a.pdf", base) == Path("docs/a.pdf")
    assert locate_file("docs/b.pdf", base) is None and locate_file("", base) is None


def test_above_the_records_only_the_same_document_is_taken(tmp_path: Path, invoice_pdf: Path) -> None:
    """A file of the same name further up the tree (``~/docs/a.pdf``) is another document."""
    project = tmp_path / "project"
    (project / "out").mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.pdf").write_bytes(b"%PDF-1.4 another document")
    sha256 = file_sha256(invoice_pdf)  # as qvl extract records it
    assert locate_file("docs/a.pdf", project / "out", sha256) is None
    (project / "docs").mkdir()
    (project / "docs" / "a.pdf").write_bytes(invoice_pdf.read_bytes())
    assert locate_file("docs/a.pdf", project / "out", sha256) == project / "docs" / "a.pdf"
    assert locate_file("docs/a.pdf", tmp_path / "x" / "y") == tmp_path / "docs" / "a.pdf"  # no hash to check


def test_the_examples_review_from_any_folder(tmp_path: Path) -> None:
    report = tmp_path / "review.html"
    result = qvl("review", str(EXAMPLES / "records.jsonl"), "-o", "review.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "qvl: wrote review.html: 5 documents\n"  # no file missing, none changed
    html = report.read_text()
    assert 'class="page-missing"' not in html and html.count('<img src="data:image/webp;base64,') >= 5


def test_bad_lines_are_skipped_and_named(tmp_path: Path, invoice_pdf: Path) -> None:
    source = write_jsonl(tmp_path / "run.jsonl", [invoice_record(invoice_pdf), '{"cut": ', '{"other": 1}'])
    loaded = load_records([str(source)])
    assert len(loaded.records) == 1
    assert [line.split(": ", 1)[0] for line in loaded.skipped] == [f"{source}:2", f"{source}:3"]
    result = run(str(source), "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 0 and f"{source}:2: not valid JSON" in result.stderr


def test_no_records_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no qvl records"):
        load_records([str(write_jsonl(tmp_path / "empty.jsonl", ['{"a": 1}']))])
    result = run(str(tmp_path / "absent.jsonl"))
    missing = "absent.jsonl: cannot read records: No such file or directory (give the records written by"
    assert result.exit_code == 2 and missing in result.stderr
    assert not (tmp_path / "review.html").exists()


def test_a_document_or_binary_file_given_as_records_is_named_as_such(tmp_path: Path, invoice_pdf: Path) -> None:
    blob = tmp_path / "blob.jsonl"
    blob.write_bytes(b'{"file": "\xff"}\n')
    for path, problem in (
        (invoice_pdf, "a PDF document, not qvl records"),
        (blob, "not UTF-8 text (byte 0xff on line 1)"),
    ):
        result = run(str(path), "-o", str(tmp_path / "r.html"))
        assert result.exit_code == 2
        assert problem in result.stderr and "qvl extract -o" in result.stderr and "codec" not in result.stderr


def test_stdout_only_and_options(tmp_path: Path, invoice_pdf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = invoice_record(invoice_pdf)
    bad = invoice_record(invoice_pdf, valid=False, file=str(invoice_pdf), errors=[{"path": "/total", "message": "x"}])
    warned = invoice_record(invoice_pdf, warnings=["something"], confidence={})
    source = write_jsonl(tmp_path / "run.jsonl", [good, bad, warned])
    monkeypatch.chdir(tmp_path)
    result = run(str(source))  # default output: review.html, written atomically
    assert result.exit_code == 0 and (tmp_path / "review.html").read_text().count('<section class="doc"') == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    printed = run(str(source), "-o", "-", "--only", "invalid")
    assert printed.stdout.startswith("<!DOCTYPE html>") and printed.stdout.count('<section class="doc"') == 1
    either = run(str(source), "-o", "-", "--only", "invalid", "--only", "warnings")
    assert either.stdout.count('<section class="doc"') == 2
    low = run(str(source), "-o", "-", "--only", "low-confidence", "--min-confidence", "0.25")
    assert low.stdout.count('<section class="doc"') == 2  # the third has no confidence at all
    wrong = run(str(source), "--only", "broken")
    assert wrong.exit_code == 2 and "--only must be one of invalid, warnings, low-confidence" in wrong.stderr
    assert run(str(source), "--min-confidence", "2").exit_code == 2


def test_stdin(tmp_path: Path, invoice_pdf: Path) -> None:
    result = CliRunner().invoke(
        app, ["review", "-", "-o", "-"], input=json.dumps(invoice_record(invoice_pdf)) + "\n", catch_exceptions=False
    )
    assert result.exit_code == 0 and "<title>qvl review: stdin</title>" in result.stdout


def test_values_are_escaped_in_the_html(tmp_path: Path, invoice_pdf: Path) -> None:
    record = invoice_record(invoice_pdf)
    record["data"]["invoice_number"] = "</script><img src=x onerror=alert(1)>"
    html = run(str(write_jsonl(tmp_path / "run.jsonl", [record])), "-o", "-").stdout
    assert "<img src=x" not in html and "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<script") == 1


@pytest.mark.corpus
def test_encrypted_pdf_pages_need_the_password(tmp_path: Path, corpus: Path) -> None:
    locked = corpus / "pypdf/docs/encryption/r6-both-passwords.pdf"
    record = {"file": str(locked), "valid": True, "data": {"title": "x"}}
    source = write_jsonl(tmp_path / "run.jsonl", [record])
    denied = run(str(source), "-o", "-")
    assert denied.exit_code == 0 and "PDF is encrypted (pass --password" in denied.stderr
    assert 'class="page-missing"' not in denied.stdout and "<img src=" not in denied.stdout
    opened = run(str(source), "-o", "-", "--password", "foo")
    assert opened.stderr == "" and '<img src="data:image/webp;base64,' in opened.stdout


def test_min_confidence_comes_from_the_configuration_file(
    tmp_path: Path, invoice_pdf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_jsonl(tmp_path / "run.jsonl", [invoice_record(invoice_pdf)])  # lowest confidence 0.2
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".qvl.toml").write_text("min_confidence = 0.1\n")
    assert "<section" not in run(str(source), "-o", "-", "--only", "low-confidence").stdout
    assert "<section" in run(str(source), "-o", "-", "--only", "low-confidence", "--min-confidence", "0.25").stdout
