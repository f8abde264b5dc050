"""``qvl validate``: check stored JSON (plain data or qvl envelopes) against a schema, no model."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qvl_cli.answers.validation import make_validator
from qvl_cli.errors import EXIT_INVALID, EXIT_USAGE, EXIT_VALID
from qvl_cli.gate.report import write_report
from qvl_cli.gate.rules import Finding, Source
from qvl_cli.schemas.catalog import load_schema

if TYPE_CHECKING:
    from qvl_cli.runs.sources import NotRecords

TAKES = "qvl validate takes JSON or JSON Lines files, or - for stdin"


def is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and "data" in value and "valid" in value and "file" in value


def read_items(path: Path) -> Iterator[tuple[str, int | None, Any, str | None]]:
    """``(name, line, value, problem)`` per item: one for a JSON file (line ``None``), one per line
    of a JSONL file (``-``: stdin, one JSON value or JSON Lines)."""
    from qvl_cli.runs.sources import STDIN, json_lines, not_records, source_name, utf8_text

    stdin = str(path) == STDIN
    name = source_name(str(path))
    try:
        data = sys.stdin.buffer.read() if stdin else path.read_bytes()
    except OSError as exc:
        yield name, None, None, f"cannot read file: {exc.strerror or exc}"
        return
    if found := not_records(data):
        yield name, None, None, f"not JSON: {_instead(found)}"
        return
    text = utf8_text(data)
    if path.suffix.lower() in (".jsonl", ".ndjson") or (stdin and not _one_value(text)):
        for number, line in json_lines(text):
            yield from _parse(name, number, line)
    else:
        yield from _parse(name, None, text)


def _instead(found: NotRecords) -> str:
    """What a file is instead of JSON, and what to do."""
    if found.is_document:
        return (
            f"{found.what()}, not extracted data: extract it first"
            " (qvl extract FILE --schema NAME -o out.jsonl) and validate out.jsonl"
        )
    if found.is_text:
        return f"{found.what()}: give a JSON or JSON Lines file saved as UTF-8"
    return f"{found.what()}, not extracted data: give a JSON or JSON Lines file"


def _one_value(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _parse(name: str, line: int | None, text: str) -> Iterator[tuple[str, int | None, Any, str | None]]:
    from qvl_cli.runs.sources import json_problem

    try:
        yield name, line, json.loads(text), None
    except json.JSONDecodeError as exc:
        yield name, line, None, f"not valid JSON: {json_problem(exc, one_line=line is not None)}"


def _own_verdict(name: str, record: dict[str, Any], found: list[Finding]) -> list[Finding]:
    """What the record itself says is wrong that the schema cannot see (values cut short, values
    not found under --require-evidence...): see :mod:`qvl_cli.runs.verdicts`. Its stored schema
    errors are not repeated: ``found`` derives them again from the data as it is now."""
    from qvl_cli.runs.verdicts import record_verdicts

    return [Finding(name, verdict.pointer, verdict.message) for verdict in record_verdicts(record, bool(found))]


def validate_files(paths: Sequence[Path], schema_ref: str, fmt: str) -> int:
    """Report every problem; 0 when everything is valid, 1 when some data is invalid, 2 when a
    file is missing or not JSON."""
    from qvl_cli.runs.sources import refuse_folder, source_name

    for path in paths:
        refuse_folder(str(path), TAKES)
    validate = make_validator(load_schema(schema_ref))
    findings: list[Finding] = []
    names: list[str | Source] = []
    malformed = False
    for path in paths:
        before = len(names)
        for name, line, value, problem in read_items(path):
            names.append((name, line))
            found: list[Finding] = []
            if problem is not None:
                malformed = True
                found.append(Finding(name, "", problem))
            elif is_envelope(value) and value.get("error"):
                found.append(Finding(name, "", f"no data: {value['error'].get('message', 'extraction failed')}"))
            else:
                data = value["data"] if is_envelope(value) else value
                found = [Finding(name, issue.path, issue.message) for issue in validate(data)]
                if is_envelope(value):
                    found += _own_verdict(name, value, found)
            findings += [replace(finding, line=line) for finding in found]
        if len(names) == before:  # nothing to check is no pass: a gate fed an empty file must fail
            name = source_name(str(path))
            names.append(name)
            findings.append(Finding(name, "", "empty: no JSON value or JSON Lines record to check"))
            malformed = True
    write_report(findings, names, fmt, sys.stdout)
    if malformed:
        return EXIT_USAGE
    return EXIT_INVALID if findings else EXIT_VALID
