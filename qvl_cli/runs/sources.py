"""JSON and JSON Lines inputs (records, schemas, gold, adapters): what such a file is when it is
not text (a document, a binary file, text in another encoding), a folder refused, and JSON that
does not decode, each a one-line error naming the file (and line) and saying what to give.

:func:`read_input` and :func:`parse_json` / :func:`parse_json_lines` word their errors from an
:class:`Expected` (what the command reads, its hint, its error type), so a file is named the same
whichever command it is given to, and each command keeps its exit code.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qvl_cli.errors import InputError, QvlError

STDIN = "-"
RECORDS_HINT = "give the records written by `qvl extract -o`"
TEXT_SNIFF_BYTES = 8000  # the first bytes looked at for a binary file's NULs and control characters
# Control characters text may hold: tab, line feed, vertical tab, form feed, carriage return,
# escape (terminal colours), backspace. Any other, or a NUL, is binary data.
_TEXT_CONTROLS = frozenset(b"\t\n\x0b\x0c\r\x1b\x08")
_BINARY_SHARE = 0.1  # more control characters than this share of the bytes: binary
_UTF16_MARKS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class NotRecords:
    """What a file given as records is instead of UTF-8 text."""

    kind: str  # a document's format ("pdf", "png"...), "binary", "utf-16" or "encoding"
    byte: int = 0  # "encoding": the first byte that is not UTF-8, and its line
    line: int = 0

    @property
    def is_document(self) -> bool:
        return self.kind not in ("binary", "utf-16", "encoding")

    @property
    def is_text(self) -> bool:
        """Text in another encoding (to save as UTF-8), not data of another kind."""
        return self.kind in ("utf-16", "encoding")

    def what(self) -> str:
        """``a PDF document``, ``a binary file``, ``not UTF-8 text (byte 0xe9 on line 3)``..."""
        if self.kind == "binary":
            return "a binary file"
        if self.kind == "utf-16":
            return "UTF-16 text, not UTF-8"
        if self.kind == "encoding":
            return f"not UTF-8 text (byte 0x{self.byte:02x} on line {self.line})"
        return f"a {self.kind.upper()} document"


def not_records(data: bytes, *, complete: bool = True) -> NotRecords | None:
    """What ``data`` is when it cannot be text records, else ``None``; ``complete`` is False when
    ``data`` is only a file's first bytes (a character cut short at their end is not an error)."""
    from qvl_cli.pages.inputs import sniff_kind

    kind = sniff_kind(data[:1024])
    if kind is not None and data.lstrip()[:1] not in (b"{", b"["):  # JSON may quote a PDF's header
        return NotRecords(kind)
    if data.startswith(_UTF16_MARKS):
        return NotRecords("utf-16")
    if _is_binary(data[:TEXT_SNIFF_BYTES]):
        return NotRecords("binary")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=complete)
    except UnicodeDecodeError as exc:
        return NotRecords("encoding", data[exc.start], data[: exc.start].count(b"\n") + 1)
    return None


def _is_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte < 32 and byte not in _TEXT_CONTROLS)
    return controls > len(head) * _BINARY_SHARE


@dataclass(frozen=True)
class Expected:
    """What a command reads from a file, to word its errors: ``cannot read schema: ...`` (``noun``),
    ``a PDF document, not a JSON Schema`` (``wanted``), each with ``hint`` (what to give), raised as
    ``error`` so the command keeps its exit code; ``takes`` is the hint for a folder, if another."""

    noun: str
    wanted: str
    hint: str
    error: type[QvlError] = InputError
    takes: str | None = None

    def fail(self, name: str, message: str, hint: str | None = None) -> QvlError:
        return self.error(message, path=name, hint=hint or self.hint)

    def folder(self, name: str) -> QvlError:
        article = "an" if self.noun[:1] in "aeiou" else "a"
        return self.fail(name, f"is a folder, not {article} {self.noun} file", self.takes)

    def unreadable(self, name: str, exc: OSError) -> QvlError:
        """A file that cannot be read; a missing one also says what to give."""
        hint = self.hint if isinstance(exc, FileNotFoundError) else None
        return self.error(f"cannot read {self.noun}: {exc.strerror or exc}", path=name, hint=hint)

    def refused(self, name: str, found: NotRecords) -> QvlError:
        """A file that is not UTF-8 text: ``a PDF document, not qvl records``."""
        what = found.what()
        return self.fail(name, f"not {self.wanted}: {what}" if found.is_text else f"{what}, not {self.wanted}")


RECORDS = Expected("records", "qvl records", RECORDS_HINT)


def source_name(source: str) -> str:
    """How messages name a source: ``stdin`` for ``-``, else the path as given."""
    return "stdin" if source == STDIN else source


def refuse_folder(source: str, takes: str) -> None:
    """A usage error when ``source`` is a folder: ``takes`` says what the command reads instead."""
    if source != STDIN and Path(source).is_dir():
        raise replace(RECORDS, takes=takes).folder(source)


def read_input(source: str | Path, expected: Expected, *, stdin: bool = False) -> bytes:
    """The bytes of ``source`` (``-`` is stdin when ``stdin``), known to be UTF-8 text; a folder, a
    file that cannot be read, a document, a binary file or other text is ``expected.error``."""
    given = str(source)
    from_stdin = stdin and given == STDIN
    name = source_name(given) if stdin else given
    if not from_stdin and Path(given).is_dir():
        raise expected.folder(name)
    try:
        data = sys.stdin.buffer.read() if from_stdin else Path(given).read_bytes()
    except OSError as exc:
        raise expected.unreadable(name, exc) from None
    if found := not_records(data):
        raise expected.refused(name, found)
    return data


def json_problem(exc: json.JSONDecodeError, *, one_line: bool = False) -> str:
    """``Expecting value at line 2 column 5`` (``one_line``: a JSON Lines line, just its column)."""
    where = f"column {exc.colno}" if one_line else f"line {exc.lineno} column {exc.colno}"
    return f"{exc.msg} {where}" if exc.msg.endswith(" at") else f"{exc.msg} at {where}"  # "starting at"


def utf8_text(data: bytes | str) -> str:
    """UTF-8 text without a byte order mark (as some editors save it)."""
    return data.decode("utf-8-sig") if isinstance(data, bytes) else data.removeprefix("\ufeff")


def parse_json(data: bytes | str, name: str, expected: Expected) -> Any:
    """The one JSON value that ``data`` (read by :func:`read_input`) holds; empty, or not valid JSON,
    is ``expected.error`` naming the line and column."""
    text = utf8_text(data)
    if not text.strip():
        raise expected.fail(name, f"empty, not {expected.wanted}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise expected.fail(name, f"{expected.noun} is not valid JSON: {json_problem(exc)}") from None


def json_lines(data: bytes | str) -> Iterator[tuple[int, str]]:
    """``(number, line)`` for each line that is not blank (split at line feeds only: a JSON string
    may hold a line separator such as U+2028)."""
    for number, line in enumerate(utf8_text(data).split("\n"), start=1):
        if line.strip():
            yield number, line


def parse_json_lines(data: bytes | str, name: str, expected: Expected) -> Iterator[tuple[int, Any]]:
    """``(number, value)`` for each line of JSON Lines that is not blank; a line that is not valid
    JSON is ``expected.error`` naming it (``run.jsonl:3``)."""
    for number, line in json_lines(data):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON: {json_problem(exc, one_line=True)}"
            raise expected.fail(f"{name}:{number}", problem) from None
        yield number, value
