"""JSON and JSON Lines inputs read through one helper: a folder, a file that cannot be read, stdin,
a document or binary file, JSON that does not decode (its line and column named) and an empty file
each give one line naming the file and what to give, raised as the caller's own error type."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pdf_factory import PageSpec, write_pdf

from qvl_cli.errors import EXIT_INVALID, InputError, QvlError
from qvl_cli.runs.sources import (
    RECORDS,
    RECORDS_HINT,
    Expected,
    json_problem,
    parse_json,
    parse_json_lines,
    read_input,
)


class MappingError(QvlError):
    """A caller's own error type, with its own exit code."""

    exit_code = EXIT_INVALID


MAPPING = Expected("mapping", "a mapping file", "give a JSON mapping", MappingError, takes="--map takes a file")


def raised(call: Callable[[], object]) -> QvlError:
    """The error ``call`` raises (a failure when it raises none)."""
    with pytest.raises(QvlError) as info:
        call()
    return info.value


def test_a_folder_names_what_the_command_takes(tmp_path: Path) -> None:
    error = raised(lambda: read_input(tmp_path, MAPPING))
    assert isinstance(error, MappingError) and error.exit_code == EXIT_INVALID
    assert str(error) == f"{tmp_path}: is a folder, not a mapping file (--map takes a file)"
    error = raised(lambda: read_input(tmp_path, RECORDS))  # no `takes`: the hint says what to give
    assert str(error) == f"{tmp_path}: is a folder, not a records file ({RECORDS_HINT})"


def test_a_file_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    assert str(raised(lambda: read_input(missing, MAPPING))) == (
        f"{missing}: cannot read mapping: No such file or directory (give a JSON mapping)"
    )
    (tmp_path / "file").write_text("{}")
    below_a_file = tmp_path / "file" / "x.json"  # not missing: no hint on what to give
    assert (
        str(raised(lambda: read_input(below_a_file, MAPPING)))
        == f"{below_a_file}: cannot read mapping: Not a directory"
    )


def test_stdin_is_read_when_the_command_takes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"a": 1}\n')))
    assert read_input("-", RECORDS, stdin=True) == b'{"a": 1}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\x00\x01binary")))
    error = raised(lambda: read_input("-", RECORDS, stdin=True))
    assert isinstance(error, InputError)
    assert str(error) == f"stdin: a binary file, not qvl records ({RECORDS_HINT})"


def test_dash_is_a_file_name_for_a_command_without_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"{}")))
    assert str(raised(lambda: read_input("-", MAPPING))).startswith("-: cannot read mapping: No such file")
    Path("-").write_text('{"from": "file"}')
    assert read_input("-", MAPPING) == b'{"from": "file"}'


def test_a_document_binary_file_or_other_text_is_named(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "invoice.pdf", [PageSpec()])
    cases = {
        pdf: "a PDF document, not a mapping file",
        tmp_path / "nul.json": "a binary file, not a mapping file",
        tmp_path / "utf16.json": "not a mapping file: UTF-16 text, not UTF-8",
        tmp_path / "latin.json": "not a mapping file: not UTF-8 text (byte 0xe9 on line 2)",
    }
    (tmp_path / "nul.json").write_bytes(b'{"a": 1}\x00\x00')
    (tmp_path / "utf16.json").write_bytes('{"a": 1}'.encode("utf-16"))
    (tmp_path / "latin.json").write_bytes(b'{\n"a": "caf\xe9"}')
    for path, problem in cases.items():
        error = raised(lambda path=path: read_input(path, MAPPING))
        assert isinstance(error, MappingError)
        assert str(error) == f"{path}: {problem} (give a JSON mapping)"


def test_bad_json_names_its_line_and_column() -> None:
    error = raised(lambda: parse_json(b'{\n  "a": 1,\n}\n', "map.json", MAPPING))
    assert isinstance(error, MappingError)
    assert str(error) == (
        "map.json: mapping is not valid JSON: Expecting property name enclosed in double quotes"
        " at line 3 column 1 (give a JSON mapping)"
    )


def test_a_bad_json_lines_line_is_named_by_file_and_line() -> None:
    lines = parse_json_lines(b'{"a": 1}\n\n{"b": \n{"c": 3}\n', "run.jsonl", MAPPING)
    assert next(lines) == (1, {"a": 1})
    error = raised(lambda: next(lines))
    assert str(error) == "run.jsonl:3: not valid JSON: Expecting value at column 7 (give a JSON mapping)"


@pytest.mark.parametrize("data", [b"", b"  \n\t\n", b"\xef\xbb\xbf"])
def test_an_empty_file_is_named_empty(data: bytes) -> None:
    assert (
        str(raised(lambda: parse_json(data, "e.json", MAPPING)))
        == "e.json: empty, not a mapping file (give a JSON mapping)"
    )
    assert list(parse_json_lines(data, "e.jsonl", MAPPING)) == []


def test_a_byte_order_mark_and_a_line_separator_in_a_string_are_json() -> None:
    assert parse_json(b'\xef\xbb\xbf{"a": 1}', "bom.json", MAPPING) == {"a": 1}
    value = {"text": "one\u2028two\x85three"}
    data = b"\xef\xbb\xbf" + json.dumps(value, ensure_ascii=False).encode() + b"\r\n" + b'{"b": 2}\n'
    assert list(parse_json_lines(data, "run.jsonl", MAPPING)) == [(1, value), (2, {"b": 2})]


def test_every_caller_names_the_file_and_line_of_bad_json(tmp_path: Path) -> None:
    """The commands' readers word bad JSON the same way, each raising its own error type."""
    from qvl_cli.commands.eval import read_predictions
    from qvl_cli.errors import SchemaError
    from qvl_cli.evaluation.goldsets import GoldError, load_adapter, load_gold
    from qvl_cli.review.records import load_records
    from qvl_cli.schemas.catalog import load_schema

    whole, lines = tmp_path / "broken.json", tmp_path / "broken.jsonl"
    whole.write_text('{\n  "type": }\n')
    lines.write_text('{"file": "a.pdf", "data": {}}\n{"file": \n')
    (tmp_path / "gold").mkdir()
    (tmp_path / "gold" / "a.json").write_text('{\n  "type": }\n')
    problem = "is not valid JSON: Expecting value at line 2 column 11"
    line_problem = f"{lines}:2: not valid JSON: Expecting value at column 10"
    cases = [
        (lambda: load_schema(str(whole)), SchemaError, f"{whole}: schema {problem} (-s takes a built-in"),
        (lambda: load_adapter(str(whole)), GoldError, f"{whole}: adapter {problem} (a mapping file is JSON"),
        (lambda: load_gold(tmp_path / "gold"), GoldError, f"{tmp_path / 'gold' / 'a.json'}: gold {problem} (give"),
        (lambda: load_gold(lines), GoldError, f"{line_problem} (give JSON or JSON Lines saved as UTF-8)"),
        (lambda: read_predictions(lines), InputError, f"{line_problem} ({RECORDS_HINT})"),
    ]
    for call, kind, message in cases:
        error = raised(call)
        assert type(error) is kind and str(error).startswith(message), str(error)
    skipped = load_records([str(lines)]).skipped  # review goes on without the line
    assert skipped == (f"{line_problem.replace(': not valid JSON: ', ': not valid JSON (')}), skipped",)
    folder = raised(lambda: load_schema(str(tmp_path)))
    assert str(folder).startswith(f"{tmp_path}: is a folder, not a schema file (-s takes a built-in schema name")


def test_json_errors_that_end_in_at_are_not_worded_at_at() -> None:
    """Python says "Unterminated string starting at" and leaves the place to the caller."""
    for text, one_line, wording in [
        ('{"a": "b', False, "Unterminated string starting at line 1 column 7"),
        ('{"a": "b', True, "Unterminated string starting at column 7"),
        ("{", False, "Expecting property name enclosed in double quotes at line 1 column 2"),
    ]:
        with pytest.raises(json.JSONDecodeError) as caught:
            json.loads(text)
        assert json_problem(caught.value, one_line=one_line) == wording
