"""The ``qvl`` command as users run it: real entry point, real files, real exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, cli, fake, qvl, records
from pdf_factory import PageSpec, write_pdf
from PIL import Image
from samples import VALID_INVOICE
from typer.testing import CliRunner

from qvl_cli.cli import app

HEAVY = ("torch", "transformers", "pypdfium2", "PIL", "numpy", "bitsandbytes", "jsonschema", "accelerate")
GOOD_INVOICE = VALID_INVOICE


@pytest.fixture
def invoice_pdf(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "invoice one.pdf", [PageSpec(lines=("INVOICE A-1", "Total 10.50 EUR"))] * 2)


@pytest.mark.parametrize("args", [["--help"], ["extract", "--help"], ["render", "--help"]])
def test_help_is_instant_and_imports_nothing_heavy(args: list[str]) -> None:
    code = (
        "import sys\nfrom qvl_cli.cli import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert result.stdout.strip().endswith("LOADED []")


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for command in app.registered_commands:
        assert command.callback.__doc__, command.name
        name = command.name or command.callback.__name__
        assert f"qvl {name}" in readme, name


def test_schemas_lists_builtins_with_descriptions() -> None:
    result = CliRunner().invoke(app, ["schemas"], catch_exceptions=False)
    assert result.exit_code == 0
    for name in ("invoice", "form", "chart", "multilingual"):
        assert name in result.output
    assert "line items" in result.output


def test_render_writes_the_pages_the_model_sees(tmp_path: Path, invoice_pdf: Path) -> None:
    out = tmp_path / "pages"
    result = CliRunner().invoke(
        app, ["render", str(invoice_pdf), "--out", str(out), "--max-pixels", "200000"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["invoice one-p001.png", "invoice one-p002.png"]
    with Image.open(files[0]) as image:
        assert image.size == (392, 504)
    assert "1700 x 2200" in result.output and "392 x 504" in result.output and "252" in result.output
    printed = "".join(line.split("│")[-2].strip() for line in result.output.splitlines() if line.count("│") > 5)
    assert str(files[0]) in printed and str(files[1]) in printed  # whole paths, wrapped if need be


def test_render_titles_a_one_page_document_in_the_singular(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "one.pdf", [PageSpec(lines=("One",))])
    result = CliRunner().invoke(app, ["render", str(pdf), "--out", str(tmp_path / "pages")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    title = " ".join(result.output.split())  # however the terminal's width wraps it
    assert f"{pdf.name} (1 page)" in title and "pages)" not in title


def test_render_gives_a_long_document_a_row_per_run_of_pages_rendered_alike(tmp_path: Path) -> None:
    letter, landscape = PageSpec(lines=("Letter",)), PageSpec(792, 612, lines=("Landscape",))
    pdf = write_pdf(tmp_path / "long.pdf", [letter] * 12 + [landscape] * 3 + [letter] * 10)
    out = tmp_path / "pages"
    result = CliRunner().invoke(app, ["render", str(pdf), "--out", str(out), "--max-total-pixels", "0"])
    assert result.exit_code == 0, result.output
    assert len(list(out.iterdir())) == 25
    rows = [line.split("│")[1:-1] for line in result.output.splitlines() if line.startswith("│")]
    pages = [cells[0].strip() for cells in rows if cells[0].strip()]
    assert pages == ["1-12", "13-15", "16-25"]
    tokens = [cells[3].strip() for cells in rows if cells[0].strip()]
    assert all(cell.endswith(" each") for cell in tokens)  # a page's tokens; the caption has the total
    each = [int(cell.split()[0]) for cell in tokens]
    assert f"{12 * each[0] + 3 * each[1] + 10 * each[2]} visual tokens in all" in " ".join(result.output.split())
    files = "".join(cells[-1].strip() for cells in rows).replace(" ", "")  # the file column, unwrapped
    assert f"{out / 'long-p001.png'}...long-p012.png" in files and "long-p013.png" in files
    assert files.endswith("...long-p025.png")
    short = write_pdf(tmp_path / "short.pdf", [letter] * 20)  # up to 20 pages: a row a page
    result = CliRunner().invoke(app, ["render", str(short), "--out", str(out), "--max-total-pixels", "0"])
    rows = [line.split("│")[1:-1] for line in result.output.splitlines() if line.startswith("│")]
    assert [cells[0].strip() for cells in rows if cells[0].strip()] == [str(n) for n in range(1, 21)]


def test_extract_end_to_end_on_the_tiny_model(tiny_model_dir: Path, invoice_pdf: Path) -> None:
    """Random weights cannot read an invoice: the answer is still JSON of the invoice's shape,
    and the envelope says it is invalid, and why."""
    result = qvl("extract", str(invoice_pdf), "--schema", "invoice", "--model", str(tiny_model_dir),
                 "--max-new-tokens", "120", "--max-pixels", "100000", "--min-confidence", "0.5")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (envelope,) = records(result.stdout)
    assert envelope["file"] == str(invoice_pdf)
    assert envelope["schema"] == "invoice" and envelope["prompt"] == "invoice-v1"
    assert envelope["model"]["id"] == str(tiny_model_dir) and envelope["model"]["backend"] == "transformers"
    assert [page["page"] for page in envelope["pages"]] == [1, 2]
    assert envelope["usage"]["visual_tokens"] == sum(page["visual_tokens"] for page in envelope["pages"])
    assert 0 < envelope["usage"]["generated_tokens"] <= 120 * envelope["attempts"]
    assert envelope["seconds"] > 0 and envelope["constrained"] is True

    assert envelope["valid"] is False
    assert set(envelope["data"]) == set(json.loads((ROOT / "schemas/invoice.json").read_text())["required"])
    assert envelope["truncated"]["reason"] in ("budget", "repetition")
    cut_or_added = set(envelope["truncated"]["cut"]) | set(envelope["truncated"]["added"])
    assert {error["path"] for error in envelope["errors"]} == cut_or_added
    assert all("cut short" in e["message"] or "not extracted" in e["message"] for e in envelope["errors"])
    assert envelope["confidence"] and all(0 <= p <= 1 for p in envelope["confidence"].values())
    read = {p: c for p, c in envelope["confidence"].items() if not any(p.startswith(x) for x in cut_or_added)}
    low = [f"low confidence {c:.2f} < 0.50 at {p}" for p, c in read.items() if c < 0.5]
    assert [w for w in envelope["warnings"] if w.startswith("low confidence")] == low


def test_no_constrain_on_the_tiny_model(tiny_model_dir: Path, invoice_pdf: Path) -> None:
    result = qvl("extract", str(invoice_pdf), "-s", "invoice", "--model", str(tiny_model_dir), "--no-constrain",
                 "--max-new-tokens", "24", "--max-pixels", "50000", "--reask", "0")  # fmt: skip
    assert result.returncode == 1, result.stderr
    (envelope,) = records(result.stdout)
    assert envelope["constrained"] is False and envelope["attempts"] == 1
    assert envelope["valid"] is False and envelope["errors"]


def test_valid_extraction_exits_0(invoice_pdf: Path) -> None:
    result = cli("extract", str(invoice_pdf), "-s", "invoice", env=fake(GOOD_INVOICE))
    assert result.exit_code == 0, result.stderr
    (envelope,) = records(result.stdout)
    assert envelope["valid"] is True and envelope["errors"] == []
    assert envelope["data"] == GOOD_INVOICE
    assert len(result.stdout.splitlines()) == 1  # compact when piped


def test_schema_violations_exit_1_with_json_pointers(invoice_pdf: Path) -> None:
    bad = GOOD_INVOICE | {"invoice_date": "soon", "currency": "euro", "total": "ten"}
    answer = f"Here you go:\n```json\n{json.dumps(bad)}\n```"
    result = cli("extract", str(invoice_pdf), "-s", "invoice", env=fake(answer))
    assert result.exit_code == 1
    (envelope,) = records(result.stdout)
    assert envelope["data"] == bad
    assert [error["path"] for error in envelope["errors"]] == ["/currency", "/invoice_date", "/total"]
    assert "is not a 'date'" in envelope["errors"][1]["message"]


def test_printed_dates_and_amounts_are_normalized_with_the_raw_value_kept(invoice_pdf: Path) -> None:
    printed = GOOD_INVOICE | {"invoice_date": "31.01.2024", "total": "1.234,50", "tax": "EUR 19,00"}
    result = cli("extract", str(invoice_pdf), "-s", "invoice", env=fake(printed))
    (envelope,) = records(result.stdout)
    assert envelope["valid"] is True
    assert (envelope["data"]["invoice_date"], envelope["data"]["total"], envelope["data"]["tax"]) == (
        "2024-01-31",
        1234.5,
        19,
    )
    assert envelope["normalized"] == {
        "/invoice_date": {"raw": "31.01.2024", "value": "2024-01-31"},
        "/tax": {"raw": "EUR 19,00", "value": 19},
        "/total": {"raw": "1.234,50", "value": 1234.5},
    }


def test_bad_inputs_get_error_records_and_exit_2(tmp_path: Path, invoice_pdf: Path) -> None:
    notes = tmp_path / "notes.pdf"
    notes.write_text("not a pdf at all")
    result = cli("extract", str(notes), str(invoice_pdf), str(tmp_path / "missing.png"), "-s", "invoice",
                 env=fake(GOOD_INVOICE))  # fmt: skip
    assert result.exit_code == 2
    first, second, third = records(result.stdout)
    assert first["error"] == {"type": "input", "message": f"{notes}: not a supported document; expected PDF, PNG, "
                              "JPEG, TIFF, WebP, BMP or GIF"}  # fmt: skip
    assert second["valid"] is True
    assert third["error"]["message"] == f"{tmp_path / 'missing.png'}: no such file"
    assert result.stderr.count("qvl: error:") == 2
    assert "Traceback" not in result.stderr


def test_output_file_is_written_atomically(tmp_path: Path, invoice_pdf: Path) -> None:
    target = tmp_path / "out.jsonl"
    result = cli("extract", str(invoice_pdf), "-s", "invoice", "-o", str(target), env=fake(GOOD_INVOICE))
    assert result.exit_code == 0 and result.stdout == ""
    assert records(target.read_text())[0]["valid"] is True
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl")] == []


def test_model_failure_keeps_the_previous_output_and_says_how_to_fix(tmp_path: Path, invoice_pdf: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("previous run\n")
    result = qvl("extract", str(invoice_pdf), "-s", "invoice", "-o", str(target))  # default model, offline
    assert result.returncode == 3
    assert "qvl: error: model 'Qwen/Qwen2-VL-2B-Instruct' is not in the Hugging Face cache" in result.stderr
    assert "Traceback" not in result.stderr
    assert target.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["invoice one.pdf", "out.jsonl"]


def test_missing_model_on_stdout_is_one_line_and_exit_3(invoice_pdf: Path) -> None:
    """The README's first command, offline: one line saying how to get the weights."""
    result = qvl("extract", str(invoice_pdf), "--schema", "invoice")
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.startswith("qvl: error: model 'Qwen/Qwen2-VL-2B-Instruct' is not in the Hugging Face cache")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--schema", "nope"], "unknown schema 'nope' (built-in schemas: chart, form, invoice, multilingual"),
        (["--schema", "missing.json"], "missing.json: cannot read schema"),
        (["--schema", "invoice", "--quant", "3bit"], "--quant: '3bit' is not one of none, 4bit, 8bit"),
        (["--schema", "invoice", "--min-pixels", "10"], "--min-pixels: 10 is less than the minimum 784"),
        (["--schema", "invoice", "--prompt", "nope"], "unknown prompt 'nope'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(invoice_pdf: Path, args: list[str], message: str) -> None:
    result = cli("extract", str(invoice_pdf), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_user_schema_and_prompt_files(tmp_path: Path, invoice_pdf: Path) -> None:
    schema = tmp_path / "receipt.json"
    properties = {"total": {"type": "number"}}
    schema.write_text(json.dumps({"type": "object", "required": ["total"], "properties": properties}))
    prompt = tmp_path / "receipt.txt"
    prompt.write_text("Fill $schema_name for $page_count pages:\n$schema_json")
    args = ["--schema", str(schema), "--prompt", str(prompt)]
    result = cli("extract", str(invoice_pdf), *args, env=fake({"total": 3}))
    assert result.exit_code == 0, result.stderr
    (envelope,) = records(result.stdout)
    assert envelope["schema"] == "receipt" and envelope["prompt"] == "receipt.txt"


def test_max_total_pixels_is_reported(invoice_pdf: Path) -> None:
    """Pages shrink evenly to fit the cap, down to the legibility floor (below it: windows)."""
    args = ["--max-total-pixels", "600000", "--min-page-pixels", "200704"]
    result = cli("extract", str(invoice_pdf), "-s", "invoice", *args, env=fake(GOOD_INVOICE))
    (envelope,) = records(result.stdout)
    assert envelope["budget"]["shrunk"] is True
    assert envelope["budget"]["per_page_max_pixels"] == 300_000
    assert envelope["budget"]["total_pixels"] <= 600_000
    assert any("--max-total-pixels 600000" in warning for warning in envelope["warnings"])
    assert "windows" not in envelope


@pytest.mark.corpus
def test_encrypted_pdf_password_from_environment(corpus: Path) -> None:
    locked = corpus / "pypdf/docs/encryption/r6-both-passwords.pdf"
    denied = cli("extract", str(locked), "-s", "form", env=fake({}))
    assert denied.exit_code == 2
    assert "PDF is encrypted (pass --password or set QVL_PDF_PASSWORD)" in denied.stderr
    opened = cli("extract", str(locked), "-s", "form", env=fake({}) | {"QVL_PDF_PASSWORD": "foo"})
    assert records(opened.stdout)[0]["page_count"] >= 1


@pytest.mark.corpus
def test_cached_results_of_an_encrypted_pdf_need_its_password(corpus: Path, isolated_cache: Path) -> None:
    """The document must open before the cache is asked, and its results are never cached."""
    locked = corpus / "pypdf/docs/encryption/r6-both-passwords.pdf"
    opened = qvl("extract", str(locked), "-s", "form", env=fake({}) | {"QVL_PDF_PASSWORD": "foo"})
    assert opened.returncode == 1 and json.loads(opened.stdout)["data"] == {}
    assert not any(p.is_file() for p in isolated_cache.rglob("*")), "a password-protected result was cached"
    denied = qvl("extract", str(locked), "-s", "form", env=fake({}))
    assert denied.returncode == 2
    assert "PDF is encrypted (pass --password or set QVL_PDF_PASSWORD)" in denied.stderr
    assert json.loads(denied.stdout)["data"] is None


@pytest.mark.corpus
def test_no_cached_result_is_handed_out_without_the_password(corpus: Path, isolated_cache: Path) -> None:
    """Even a result already in the cache (an older qvl put it there) needs the document to open."""
    from qvl_cli.runs.cache import ResultCache
    from qvl_cli.runs.records import Envelope

    locked = corpus / "pypdf/docs/encryption/r6-both-passwords.pdf"
    opened = qvl("extract", str(locked), "-s", "form", "--no-cache", env=fake({}) | {"QVL_PDF_PASSWORD": "foo"})
    record = json.loads(opened.stdout)
    ResultCache(isolated_cache).put(record["key"], Envelope.from_dict(record))  # planted, as if cached before
    denied = qvl("extract", str(locked), "-s", "form", env=fake({}))
    assert denied.returncode == 2 and json.loads(denied.stdout)["error"]["type"] == "encrypted"


LEAKS = re.compile(r"<(bool|str|int|float|path|list\[\w+\])>|\{\w+\}|fake", re.IGNORECASE)


@pytest.mark.parametrize("command", [[], *([c.name or c.callback.__name__] for c in app.registered_commands)])
def test_help_shows_metavars_not_python_types_and_no_test_backend(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert not LEAKS.findall(result.output), LEAKS.findall(result.output)
    if command in (["extract"], ["check"]):
        assert "env var: QVL_DTYPE" in result.output and "Pixel budgets" in result.output


def test_verbose_is_accepted_after_the_command_too() -> None:
    for args in (["-v", "schemas"], ["schemas", "-v"], ["schemas", "--verbose"]):
        assert CliRunner().invoke(app, args, catch_exceptions=False).exit_code == 0, args


def test_schemas_prints_one_schema() -> None:
    result = CliRunner().invoke(app, ["schemas", "invoice"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "total" in json.loads(result.output)["properties"]
    unknown = CliRunner().invoke(app, ["schemas", "nope"], catch_exceptions=False)
    assert unknown.exit_code == 2 and "unknown schema 'nope'" in unknown.stderr


def test_shell_completion_is_offered() -> None:
    result = CliRunner().invoke(app, ["--help"], catch_exceptions=False)
    assert "--install-completion" in result.output


@pytest.mark.parametrize("command", ["extract", "validate"])
def test_a_reader_that_stops_early_ends_qvl_quietly(tmp_path: Path, command: str) -> None:
    """``qvl extract ... | head -c 100``: exit 141 (as SIGPIPE would), no traceback, no lost-flush line."""
    if command == "extract":
        docs = [str(write_pdf(tmp_path / f"d{i}.pdf", [PageSpec(lines=(f"FORM {i}",))])) for i in range(4)]
        reply = {"title": "T", "fields": [], "checkboxes": [], "signatures": []}
        args, env = [*docs, "-s", "form", "--evidence", "off", "--no-cache"], fake(*[reply] * 4, delay=0.3)
    else:  # a report far larger than a pipe's buffer
        run = tmp_path / "run.jsonl"
        run.write_text('{"title": 1}\n' * 5000)
        args, env = [str(run), "-s", "form"], {}
    with subprocess.Popen(
        [sys.executable, "-m", "qvl_cli", command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert len(process.stdout.read(100)) == 100
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=120) == 141, stderr
    assert stderr == ""
