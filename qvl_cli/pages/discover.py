"""Turn command-line arguments into the list of documents to process.

Files named explicitly are always processed (a bad one gets an error record). Directories are
walked: a file whose name has a document extension always counts (an empty or damaged one gets
an error record, never silence); other files count when their content is a PDF or image, and
are skipped with a line under ``--verbose`` otherwise, as are hidden entries. ``-`` reads paths
from standard input, one per line, or NUL-separated with ``-0``. Finding nothing at all is an
error that says where qvl looked and what for.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from qvl_cli.errors import InputError
from qvl_cli.pages.inputs import PDF_HEADER_WINDOW, sniff_kind

log = logging.getLogger(__name__)
STDIN = "-"
DOCUMENT_EXTENSIONS = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif")


class NothingFound(InputError):
    """The arguments named no document at all."""


def find_documents(
    arguments: Sequence[str | Path],
    *,
    recursive: bool = False,
    glob: str | None = None,
    null_separated: bool = False,
    stdin: IO[str] | None = None,
) -> list[Path]:
    """:func:`expand_inputs` as a list; raises :class:`NothingFound` when it is empty."""
    found = list(expand_inputs(arguments, recursive=recursive, glob=glob, null_separated=null_separated, stdin=stdin))
    if not found:
        raise nothing_found(arguments, recursive, glob)
    return found


def nothing_found(arguments: Sequence[str | Path], recursive: bool, glob: str | None) -> NothingFound:
    """Say where qvl looked, for what, and what might help."""
    places = ", ".join("standard input" if str(a) == STDIN else str(a) for a in arguments) or "no arguments"
    wanted = f"files matching --glob {glob!r}" if glob else "PDF or image files"
    folders = [Path(a) for a in arguments if str(a) != STDIN and Path(a).is_dir()]
    depth = " (subfolders not searched)" if folders and not recursive else ""  # only folders have subfolders
    hint = None
    if not recursive and any(d.is_dir() for folder in folders for d in folder.iterdir()):
        hint = "pass -r to search subfolders"
    elif glob:
        hint = "check the --glob pattern; it matches file names, e.g. '*.pdf'"
    elif any(str(a) == STDIN for a in arguments):
        hint = "give one path per line on standard input (NUL-separated with -0)"
    return NothingFound(f"no documents found: looked for {wanted} in {places}{depth}", hint=hint)


def expand_inputs(
    arguments: Sequence[str | Path],
    *,
    recursive: bool = False,
    glob: str | None = None,
    null_separated: bool = False,
    stdin: IO[str] | None = None,
) -> Iterator[Path]:
    """Every document to process, in the order given; directories in sorted order."""
    for argument in arguments:
        if str(argument) == STDIN:
            yield from read_path_list(stdin or sys.stdin, null_separated)
            continue
        path = Path(argument)
        if path.is_dir():
            yield from walk(path, recursive, glob)
        else:
            yield path


def read_path_list(stream: IO[str], null_separated: bool) -> Iterator[Path]:
    """Paths from a stream: one per line, or NUL-separated (``find -print0``); a document's content
    or a list in the other form is a usage error, not one missing file per fragment."""
    data = read_bytes(stream)
    check_path_list(data, null_separated)
    text = os.fsdecode(data)  # any file name, as the shell gave it
    entries = text.split("\0") if null_separated else text.splitlines()
    for entry in entries:
        if entry.strip():
            yield Path(entry if null_separated else entry.strip())


def read_bytes(stream: IO[str]) -> bytes:
    """The stream's bytes, undecoded where it has a binary buffer (``sys.stdin`` has)."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        return bytes(buffer.read())
    return os.fsencode(stream.read())


def check_path_list(data: bytes, null_separated: bool) -> None:
    """Refuse what cannot be a list of paths: a PDF or image piped in, a newline-separated list
    under ``-0``, a NUL-separated one without it."""
    kind = sniff_kind(data[:PDF_HEADER_WINDOW])
    if kind is not None and (kind != "pdf" or data.lstrip().startswith(b"%PDF-") or not is_utf8(data)):
        raise InputError(
            f"standard input holds a {kind.upper()} document, not a list of paths",
            hint="`-` reads the paths of documents, one per line or NUL-separated with -0, "
            "not a document's content; pass the file's path instead of `-`, e.g. qvl extract invoice.pdf",
        )
    if null_separated and b"\0" not in data and b"\n" in data:
        raise InputError(
            "-0 expects NUL-separated paths, but standard input has lines and no NUL",
            hint="drop -0 for one path per line, or list the files with find -print0",
        )
    if not null_separated and b"\0" in data:
        raise InputError(
            "standard input holds NUL characters, not one path per line",
            hint="add -0 to read a NUL-separated list, as find -print0 writes",
        )


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def walk(root: Path, recursive: bool, glob: str | None) -> Iterator[Path]:
    """Documents in ``root`` (and below, if ``recursive``), skipping hidden entries."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith("."):
                log.info("skipping hidden file %s", path)
            elif glob is not None and not fnmatch.fnmatch(name, glob):
                log.info("skipping %s: does not match --glob %s", path, glob)
            elif not (has_document_extension(name) or is_document(path)):
                log.info("skipping %s: not a PDF or image (by name or content)", path)
            else:
                yield path


def has_document_extension(name: str) -> bool:
    """True for ``.pdf .png .jpg .jpeg .tif .tiff .webp .bmp .gif``, in any case."""
    return name.lower().endswith(DOCUMENT_EXTENSIONS)


def is_document(path: Path) -> bool:
    """True when the file's first bytes are those of a supported format."""
    try:
        with path.open("rb") as handle:
            return sniff_kind(handle.read(PDF_HEADER_WINDOW)) is not None
    except OSError:
        return True  # unreadable: let extraction report it rather than drop it silently
