"""Turn command-line arguments into the list of documents to process.

Files named explicitly are always processed (a bad one gets an error record). Directories are
walked: hidden entries and files that are not documents (by content) are skipped with a debug
line. ``-`` reads paths from standard input, one per line, or NUL-separated with ``-0``.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from qvl_cli.pages.inputs import PDF_HEADER_WINDOW, sniff_kind

log = logging.getLogger(__name__)
STDIN = "-"


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
    """Paths from a stream: one per line, or NUL-separated (``find -print0``)."""
    text = stream.read()
    entries = text.split("\0") if null_separated else text.splitlines()
    for entry in entries:
        if entry.strip():
            yield Path(entry if null_separated else entry.strip())


def walk(root: Path, recursive: bool, glob: str | None) -> Iterator[Path]:
    """Documents in ``root`` (and below, if ``recursive``), skipping hidden entries."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith("."):
                log.debug("skipping hidden file %s", path)
            elif glob is not None and not fnmatch.fnmatch(name, glob):
                log.debug("skipping %s: does not match --glob %s", path, glob)
            elif not is_document(path):
                log.debug("skipping %s: not a PDF or image", path)
            else:
                yield path


def is_document(path: Path) -> bool:
    """True when the file's first bytes are those of a supported format."""
    try:
        with path.open("rb") as handle:
            return sniff_kind(handle.read(PDF_HEADER_WINDOW)) is not None
    except OSError:
        return True  # unreadable: let extraction report it rather than drop it silently
