"""Password-protected PDFs made here (no corpus needed) through every command that opens documents:
``extract``, ``render``, ``review`` and ``locate``, with the right password, a wrong one and none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli, fake, records
from pdf_factory import PageSpec, write_pdf

PASSWORD = "s3cret pass"
NEEDS_PASSWORD = "PDF is encrypted (pass --password or set QVL_PDF_PASSWORD)"
WRONG_PASSWORD = "wrong password for encrypted PDF"
SCHEMA = {"type": "object", "properties": {"code": {"type": ["string", "null"]}}, "required": ["code"]}
ANSWER = {"code": "NW-2024-0117"}
# Each case: the arguments that carry the password (if any), and the one-line error expected (or None).
CASES = [
    pytest.param([], NEEDS_PASSWORD, id="none"),
    pytest.param(["--password", "wrong"], WRONG_PASSWORD, id="wrong"),
    pytest.param(["--password", PASSWORD], None, id="right"),
]


@pytest.fixture
def locked(tmp_path: Path) -> Path:
    pages = [PageSpec(lines=("Invoice NW-2024-0117", "Total 12.50")), PageSpec(lines=("Page two",))]
    return write_pdf(tmp_path / "locked.pdf", pages, password=PASSWORD)


@pytest.fixture
def schema(tmp_path: Path) -> Path:
    path = tmp_path / "code.json"
    path.write_text(json.dumps(SCHEMA))
    return path


def test_the_factory_encrypts_with_the_password(locked: Path) -> None:
    """The document really is encrypted: PDFium refuses it without the password and reads its text with it."""
    import pypdfium2 as pdfium

    assert b"NW-2024-0117" not in locked.read_bytes()
    with pytest.raises(pdfium.PdfiumError, match="Incorrect password"):
        pdfium.PdfDocument(str(locked))
    document = pdfium.PdfDocument(str(locked), password=PASSWORD)
    assert document[0].get_textpage().get_text_range().splitlines() == ["Invoice NW-2024-0117", "Total 12.50"]
    document.close()


@pytest.mark.parametrize(("args", "error"), CASES)
def test_extract(locked: Path, schema: Path, args: list[str], error: str | None) -> None:
    result = cli("extract", str(locked), "-s", str(schema), "--evidence", "text", *args, env=fake(ANSWER))
    (record,) = records(result.stdout)
    if error:
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [f"qvl: error: {locked}: {error}"]
        assert record["error"] == {"type": "encrypted", "message": f"{locked}: {error}"}
        assert record["data"] is None and record["valid"] is False
    else:
        assert result.exit_code == 0 and result.stderr == ""
        assert record["valid"] is True and record["data"] == ANSWER and record["page_count"] == 2
        evidence = record["evidence"]["/code"]
        assert (evidence["page"], evidence["text"], evidence["source"]) == (1, "NW-2024-0117", "text")


def test_extract_takes_the_password_from_the_environment(locked: Path, schema: Path) -> None:
    result = cli("extract", str(locked), "-s", str(schema), env=fake(ANSWER) | {"QVL_PDF_PASSWORD": PASSWORD})
    assert result.exit_code == 0 and records(result.stdout)[0]["data"] == ANSWER


def test_extract_never_caches_a_protected_result(locked: Path, schema: Path, isolated_cache: Path) -> None:
    opened = cli("extract", str(locked), "-s", str(schema), "--password", PASSWORD, env=fake(ANSWER))
    assert opened.exit_code == 0
    assert not [path for path in isolated_cache.rglob("*") if path.is_file()], "a password-protected result was cached"
    again = cli("extract", str(locked), "-s", str(schema), env=fake(ANSWER))
    assert again.exit_code == 2 and records(again.stdout)[0]["error"]["type"] == "encrypted"


@pytest.mark.parametrize(("args", "error"), CASES)
def test_render(locked: Path, tmp_path: Path, args: list[str], error: str | None) -> None:
    out = tmp_path / "pages"
    result = cli("render", str(locked), "--out", str(out), *args)
    if error:
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [f"qvl: error: {locked}: {error}"]
        assert not out.exists() or not any(out.iterdir())
    else:
        assert result.exit_code == 0, result.stderr
        assert sorted(path.name for path in out.iterdir()) == ["locked-p001.png", "locked-p002.png"]


@pytest.mark.parametrize(("args", "error"), CASES)
def test_locate(locked: Path, args: list[str], error: str | None) -> None:
    line = {"file": str(locked), "data": {"code": "NW-2024-0117", "total": 12.5}}
    result = cli("locate", "-", *args, stdin=json.dumps(line) + "\n")
    (record,) = records(result.stdout)
    if error:
        assert result.exit_code == 2
        assert record == line  # written unchanged
        assert result.stderr.splitlines() == [
            f"qvl: error: -:1: {locked}: {error}",
            "qvl: 1 record: 0 values located, 0 not found, 1 record failed",
        ]
    else:
        assert result.exit_code == 0
        assert {pointer: item["text"] for pointer, item in record["evidence"].items()} == {
            "/code": "NW-2024-0117",
            "/total": "12.50",
        }
        assert result.stderr.splitlines() == ["qvl: 1 record: 2 values located, 0 not found, 0 records failed"]


@pytest.mark.parametrize(("args", "error"), CASES)
def test_review(locked: Path, tmp_path: Path, args: list[str], error: str | None) -> None:
    """A page that cannot be opened is a warning: the report is still written, without that page."""
    source = tmp_path / "run.jsonl"
    source.write_text(json.dumps({"file": str(locked), "valid": True, "data": ANSWER}) + "\n")
    result = cli("review", str(source), "-o", "-", *args)
    assert result.exit_code == 0
    html = result.stdout
    if error:
        assert result.stderr.splitlines() == [f"qvl: warning: {source}:1: {locked}: {error}"]
        assert "<img src=" not in html and 'data-page="' not in html
    else:
        assert result.stderr == ""
        assert html.count('<img src="data:image/webp;base64,') == 2
        assert 'data-page="1"' in html and 'data-page="2"' in html


def test_render_review_and_locate_take_the_password_from_the_environment(locked: Path, tmp_path: Path) -> None:
    env = {"QVL_PDF_PASSWORD": PASSWORD}
    out = tmp_path / "pages"
    rendered = cli("render", str(locked), "--out", str(out), env=env)
    assert rendered.exit_code == 0, rendered.stderr
    assert sorted(path.name for path in out.iterdir()) == ["locked-p001.png", "locked-p002.png"]

    line = {"file": str(locked), "data": {"code": "NW-2024-0117"}}
    located = cli("locate", "-", stdin=json.dumps(line) + "\n", env=env)
    assert located.exit_code == 0, located.stderr
    assert records(located.stdout)[0]["evidence"]["/code"]["text"] == "NW-2024-0117"

    source = tmp_path / "run.jsonl"
    source.write_text(json.dumps({"file": str(locked), "valid": True, "data": ANSWER}) + "\n")
    reviewed = cli("review", str(source), "-o", "-", env=env)
    assert reviewed.exit_code == 0 and reviewed.stderr == ""
    assert reviewed.stdout.count('<img src="data:image/webp;base64,') == 2

    wrong = {"QVL_PDF_PASSWORD": "wrong"}  # the variable is really read: a wrong one fails each command
    assert cli("render", str(locked), "--out", str(tmp_path / "again"), env=wrong).exit_code == 2
    assert cli("locate", "-", stdin=json.dumps(line) + "\n", env=wrong).exit_code == 2
    assert WRONG_PASSWORD in cli("review", str(source), "-o", "-", env=wrong).stderr


@pytest.mark.parametrize(("args", "error"), CASES[:2])
def test_a_cached_result_is_never_handed_out_before_the_document_opens(
    locked: Path, schema: Path, isolated_cache: Path, args: list[str], error: str
) -> None:
    """A result already in the cache (planted here, as an older qvl may have left it) is not
    served for a wrong or missing password: the error record, and none of the cached data."""
    from qvl_cli.runs.cache import ResultCache
    from qvl_cli.runs.records import Envelope

    opened = cli("extract", str(locked), "-s", str(schema), "--no-cache", "--password", PASSWORD, env=fake(ANSWER))
    (record,) = records(opened.stdout)
    assert opened.exit_code == 0 and record["data"] == ANSWER
    cache = ResultCache(isolated_cache)
    cache.put(record["key"], Envelope.from_dict(record))
    assert cache.get(record["key"]) is not None  # a hit, were the document not checked first
    denied = cli("extract", str(locked), "-s", str(schema), *args, env=fake(ANSWER))
    (refused,) = records(denied.stdout)
    assert denied.exit_code == 2 and denied.stderr.splitlines() == [f"qvl: error: {locked}: {error}"]
    assert refused["error"]["type"] == "encrypted" and refused["data"] is None and not refused.get("cached")
    assert ANSWER["code"] not in denied.stdout and refused.get("key") == record["key"]
