"""Read qvl records for a review: JSON Lines (``qvl extract -o``), JSON files, or stdin."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qvl_cli.errors import InputError
from qvl_cli.runs.sources import RECORDS, STDIN, json_lines, json_problem, read_input, source_name, utf8_text

TAKES = "qvl review takes the JSON Lines written by `qvl extract -o`, or - for stdin"


@dataclass(frozen=True)
class LoadedRecord:
    """One record and where it came from (``base``: the folder relative paths are tried from too)."""

    origin: str  # "runs.jsonl:3"
    record: dict[str, Any]
    base: Path | None


@dataclass(frozen=True)
class Loaded:
    records: tuple[LoadedRecord, ...]
    skipped: tuple[str, ...]  # one line per item that is not a qvl record


def is_record(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("file"), str) and "data" in value


def load_records(sources: Sequence[str]) -> Loaded:
    """Every record in ``sources`` (paths, or ``-`` for stdin), in order.

    A line that is not JSON or not a record is skipped and reported; a source that cannot be
    read, or no records at all, is an :class:`InputError`.
    """
    records: list[LoadedRecord] = []
    skipped: list[str] = []
    for source in sources:
        name, text, base = _read(source)
        for origin, value, problem in _items(name, text):
            if problem is None and not is_record(value):
                problem = "not a qvl record (needs 'file' and 'data')"
            if problem is not None:
                skipped.append(f"{origin}: {problem}")
            else:
                records.append(LoadedRecord(origin, value, base))
    if not records:
        names = ", ".join(source_name(source) for source in sources)
        raise InputError(f"no qvl records in {names}", hint="give the JSON Lines written by `qvl extract -o FILE`")
    return Loaded(tuple(records), tuple(skipped))


def _read(source: str) -> tuple[str, str, Path | None]:
    data = read_input(source, replace(RECORDS, takes=TAKES), stdin=True)
    return source_name(source), utf8_text(data), None if source == STDIN else Path(source).resolve().parent


def _items(name: str, text: str) -> Iterator[tuple[str, Any, str | None]]:
    """One item per line of JSON Lines; other sources (``.json``, stdin) may also be one JSON value
    (a record, e.g. indented, or a list of records)."""
    stripped = text.strip()
    if not name.lower().endswith((".jsonl", ".ndjson")) and stripped.startswith(("{", "[")):
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError:
            pass  # JSON Lines: several values
        else:
            values = whole if isinstance(whole, list) else [whole]
            for value in values:
                yield name, value, None
            return
    for number, line in json_lines(text):
        try:
            yield f"{name}:{number}", json.loads(line), None
        except json.JSONDecodeError as exc:
            yield f"{name}:{number}", None, f"not valid JSON ({json_problem(exc, one_line=True)}), skipped"
