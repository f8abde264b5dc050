"""How wide qvl lays out what it prints to stdout: help and tables fill a terminal; off a terminal
(a pipe, a file, a test) they take at least :data:`HELP_WIDTH` columns, and a table as many as it
needs to show every file path and field name whole (rich alone would use 80 and cut them).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

HELP_WIDTH = 100  # columns of help that is not shown on a terminal (a pipe, a file, a test)
UNBOUNDED = 10_000  # columns to measure a table in, as if the page had no edge


def help_width(environ: Mapping[str, str] = os.environ, terminal: bool | None = None) -> int | None:
    """Columns for help: ``TERMINAL_WIDTH`` when set (typer's own variable); on a terminal, its
    width (None: rich measures it); elsewhere ``COLUMNS`` or :data:`HELP_WIDTH`, whichever is wider."""
    fixed = environ.get("TERMINAL_WIDTH", "")
    if fixed.isdigit():
        return int(fixed)
    if terminal is None:
        terminal = _stdout_is_terminal()
    if terminal:
        return None
    columns = environ.get("COLUMNS", "")
    return max(HELP_WIDTH, int(columns)) if columns.isdigit() else HELP_WIDTH


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def stdout_console(*tables: Any) -> Any:
    """A rich console for stdout that fits ``tables``: on a terminal its width; elsewhere (a pipe,
    a file) :func:`help_width`, widened to the tables' natural width (titles included), so that no
    file path or field name is broken or cut. ``TERMINAL_WIDTH`` fixes the width everywhere."""
    from rich.console import Console

    width = help_width()
    if width is None or os.environ.get("TERMINAL_WIDTH", "").isdigit():
        return Console(width=width)
    return Console(width=max([width, *(natural_width(Console(width=UNBOUNDED), table) for table in tables)]))


def natural_width(console: Any, table: Any) -> int:
    """Columns ``table`` takes when nothing has to wrap: its widest cells, and its title and caption."""
    from rich.measure import Measurement
    from rich.text import Text

    needed = Measurement.get(console, console.options, table).maximum
    for label in (table.title, table.caption):
        if label:
            text = label if isinstance(label, Text) else Text.from_markup(str(label))
            needed = max(needed, text.cell_len)
    return needed
