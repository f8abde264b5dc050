"""Files given as records to `qvl validate`, `qvl review`, `qvl locate` and `qvl eval`: a folder is
a usage error saying what the command takes; a document, a binary file or text that is not UTF-8
is named as such (one line, exit 2, no traceback, nothing written), whichever command it is given to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli
from pdf_factory import PageSpec, write_pdf

from qvl_cli.runs.sources import RECORDS_HINT, TEXT_SNIFF_BYTES, not_records

RECORD = {"file": "a.pdf", "data": {"title": "x"}}
COMMANDS = {
    "validate": (["-s", "form"], "qvl validate takes JSON or JSON Lines files, or - for stdin"),
    "review": (["-o", "r.html"], "qvl review takes the JSON Lines written by `qvl extract -o`, or - for stdin"),
    "locate": ([], "qvl locate takes the JSON Lines written by `qvl extract -o`, or - for stdin"),
    "eval": (["--gold", "gold"], "qvl eval takes the JSON Lines written by `qvl extract -o`"),
}


@pytest.fixture(autouse=True)
def in_a_folder_with_gold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder, which has an empty ``gold`` folder for ``qvl eval``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gold").mkdir()


def one_error(stderr: str) -> str:
    lines = stderr.splitlines()
    assert lines and lines[0].startswith("qvl: error: ") and "Traceback" not in stderr and "codec" not in stderr
    return lines[0].removeprefix("qvl: error: ")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_is_a_usage_error_saying_what_the_command_takes(command: str, tmp_path: Path) -> None:
    (tmp_path / "run.jsonl").write_text(json.dumps(RECORD) + "\n")
    options, takes = COMMANDS[command]
    for folder in (".", str(tmp_path)):
        result = (
            cli(command, "run.jsonl", folder, *options) if command == "validate" else cli(command, folder, *options)
        )
        assert result.exit_code == 2
        assert one_error(result.stderr) == f"{folder}: is a folder, not a records file ({takes})"
        assert result.stdout == ""  # a usage error: validate reports nothing, not even the good file
    assert not (tmp_path / "r.html").exists()


BINARY = {
    "nul.jsonl": b'{"file": "a.pdf", "data": {}}\x00\x00\x00\n',
    "blob.json": b"\x01\x02\x03\x04\x05\x06binary blob\x07\x08\x0e\x0f",
}


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_binary_file_that_decodes_as_utf8_is_named_binary(command: str, name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(BINARY[name])
    path.read_bytes().decode("utf-8")
    options = COMMANDS[command][0]
    result = cli(command, str(path), *options)
    assert result.exit_code == 2
    if command == "validate":  # validate reports each file on stdout, and goes on
        assert result.stdout.splitlines()[0] == (
            f"{path}: not JSON: a binary file, not extracted data: give a JSON or JSON Lines file"
        )
    else:
        assert (
            one_error(result.stderr)
            == f"{path}: a binary file, not qvl records (give the records written by `qvl extract -o`)"
        )
        assert result.stdout == ""
    assert "not valid JSON" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["review", "locate", "eval"])
def test_a_document_or_text_not_in_utf8_is_named_by_review_locate_and_eval(command: str, tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "invoice.pdf", [PageSpec()])
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"file": "a.pdf", "data": {"t": "caf\xe9"}}\n')
    hint = f" ({RECORDS_HINT})"
    expected = {pdf: "a PDF document, not qvl records", latin: "not qvl records: not UTF-8 text (byte 0xe9 on line 1)"}
    for path, problem in expected.items():
        result = cli(command, str(path), *COMMANDS[command][0])
        assert result.exit_code == 2
        assert one_error(result.stderr) == f"{path}: {problem}{hint}"


def test_eval_names_gold_that_is_not_utf8_text(tmp_path: Path) -> None:
    (tmp_path / "run.jsonl").write_text(json.dumps(RECORD) + "\n")
    (tmp_path / "gold" / "a.json").write_bytes(b'{"title": "caf\xe9"}')
    (tmp_path / "gold.jsonl").write_bytes(b'{"file": "a.pdf", "title": "x"}\x00\n')
    problems = {
        "gold": "gold/a.json: not gold data: not UTF-8 text (byte 0xe9 on line 1)",
        "gold.jsonl": "gold.jsonl: a binary file, not gold data",  # worded as for every other input
    }
    for gold, problem in problems.items():
        result = cli("eval", "run.jsonl", "--gold", gold)
        assert result.exit_code == 2
        assert one_error(result.stderr) == f"{problem} (give JSON or JSON Lines saved as UTF-8)"


def test_locate_leaves_out_a_later_line_that_is_not_utf8_and_goes_on(tmp_path: Path) -> None:
    """Past the first bytes looked at, a line that is not UTF-8 is one line left out, as a line that
    is not JSON is: the records before and after it are written."""
    path = tmp_path / "run.jsonl"
    filler = json.dumps({"note": "x" * TEXT_SNIFF_BYTES}).encode()
    path.write_bytes(filler + b'\n{"file": "a.pdf", "data": {"t": "caf\xe9"}}\n' + filler + b"\n")
    result = cli("locate", str(path))
    assert result.exit_code == 2
    assert f"qvl: error: {path}:2: not UTF-8 text (byte 0xe9); line left out" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr and "3 lines left out" in result.stderr


def test_validate_reads_stdin() -> None:
    good = json.dumps({"title": "T", "fields": [], "checkboxes": [], "signatures": []})
    result = cli("validate", "-", "-s", "form", stdin=good)
    assert (result.exit_code, result.stdout) == (0, "1 document checked: 1 passed, 0 failed (0 problems)\n")
    result = cli("validate", "-", "-s", "form", stdin=f"{good}\n{{}}\n")
    assert result.exit_code == 1 and result.stdout.startswith("stdin:2: ")
    assert "2 documents checked: 1 passed, 1 failed" in result.stdout


@pytest.mark.parametrize(
    ("data", "complete", "what"),
    [
        (b'{"a": 1}\n', True, None),
        (b"caf\xc3\xa9 \x1b[1mbold\x1b[0m\tand a form feed\x0c\r\n", True, None),  # text, escapes and all
        (b"\x00" + b"x" * 100, True, "a binary file"),
        (b"\xff\xfe{\x00}\x00", True, "UTF-16 text, not UTF-8"),
        (b"ok\n\xe9", True, "not UTF-8 text (byte 0xe9 on line 2)"),
        (b"ok \xc3", False, None),  # the first bytes of a file may cut a character short
        (b"ok \xc3", True, "not UTF-8 text (byte 0xc3 on line 1)"),
        (b"%PDF-1.7\n", True, "a PDF document"),
        (b'{"note": "%PDF-1.7"}\n', True, None),  # JSON quoting a PDF's header is JSON
    ],
)
def test_not_records_names_what_a_file_is(data: bytes, complete: bool, what: str | None) -> None:
    found = not_records(data, complete=complete)
    assert (found.what() if found else None) == what


def test_validate_fails_when_there_is_nothing_to_check(tmp_path: Path) -> None:
    """A gate fed an empty file (or nothing on stdin) must not pass."""
    empty = tmp_path / "run.jsonl"
    empty.write_text("\n")
    for args, stdin in (([str(empty)], None), (["-"], "")):
        result = cli("validate", *args, "-s", "form", stdin=stdin)
        name = "stdin" if stdin is not None else str(empty)
        assert result.exit_code == 2
        assert result.stdout.startswith(f"{name}: empty: no JSON value or JSON Lines record to check\n")
