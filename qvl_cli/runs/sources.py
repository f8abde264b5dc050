"""Files given as records (``qvl validate``, ``review``, ``locate``, ``eval``): what such a file is
when it is not text (a document, a binary file, text in another encoding), and a folder refused.

The commands word their messages around :meth:`NotRecords.what`, so a file is named the same
whichever command it is given to.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from qvl_cli.errors import InputError

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


def records_error(name: str, found: NotRecords) -> InputError:
    """The error of a file given as qvl records that is not text records (``qvl review``, ``qvl locate``)."""
    problem = f"not qvl records: {found.what()}" if found.kind == "encoding" else f"{found.what()}, not qvl records"
    return InputError(problem, path=name, hint=RECORDS_HINT)


def source_name(source: str) -> str:
    """How messages name a source: ``stdin`` for ``-``, else the path as given."""
    return "stdin" if source == STDIN else source


def refuse_folder(source: str, takes: str) -> None:
    """A usage error when ``source`` is a folder: ``takes`` says what the command reads instead."""
    if source != STDIN and Path(source).is_dir():
        raise InputError("is a folder, not a records file", path=source, hint=takes)
