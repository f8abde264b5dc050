"""What ``qvl extract`` shows on stderr while it works: a live bar, status lines, or errors only.

- stderr not a terminal (or ``-q``): only error lines (none with ``-q``); with ``-v``, also a log
  line per document as it finishes.
- stderr a terminal and records going to a pipe (``| jq``): one whole status line per document
  (an error on its own line before it), no live bar, so whatever reads the pipe and prints to
  the same terminal never lands on a bar.
- stderr a terminal otherwise: a live bar (documents, pages, a labelled ETA) with a status line
  per document above it; records printed to the terminal go through the same live display, so
  no line is ever written over the bar.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qvl_cli.wording import plural

Record = dict[str, Any]
log = logging.getLogger(__name__)


@dataclass
class Display:
    """The callbacks a batch reports to, and how records reach the terminal."""

    advance: Callable[[Any], None]
    skip: Callable[[Path], None]
    echo: Callable[[str], None] | None = None  # prints a record on the terminal, above the bar


def as_dict(record: Any) -> Record:
    """A record as the JSON it is written as (an envelope, or that dict already)."""
    return record if isinstance(record, dict) else record.to_dict()


def status_line(record: Any, markup: bool) -> str:
    """``file: valid, 2 pages, 1.3 s`` for one document (``file: error (input), 0.0 s`` for one
    that failed: the error itself is :func:`error_line`)."""
    from rich.markup import escape

    record = as_dict(record)
    name = escape(record["file"]) if markup else record["file"]
    seconds = f"{record.get('seconds') or 0:.1f} s"
    error = record.get("error")
    if error is not None:
        mark = f"[bold red]error[/] ({escape(error['type'])})" if markup else f"error ({error['type']})"
        return f"{name}: {mark}, {seconds}"
    errors = plural(len(record.get("errors") or ()), "error")
    if markup:
        mark = "[green]valid[/]" if record["valid"] else f"[yellow]invalid[/] ({errors})"
    else:
        mark = "valid" if record["valid"] else f"invalid ({errors})"
    cached = ", from cache" if record.get("cached") else ""
    pages = plural(len(record.get("pages") or ()), "page")
    return f"{name}: {mark}, {pages}, {seconds}{cached}"


def error_line(record: Any, markup: bool) -> str | None:
    """``qvl: error: <file>: <message>`` for a document that failed, else ``None``."""
    from rich.markup import escape

    error = as_dict(record).get("error")
    if error is None:
        return None
    return f"[bold red]qvl: error:[/] {escape(error['message'])}" if markup else f"qvl: error: {error['message']}"


def eta_text(elapsed: float | None, completed: float, total: float | None) -> str:
    """``ETA 1:05`` from the average time per finished document (steady, unlike a rate over
    the last few seconds); ``ETA --:--`` until one is finished."""
    if not completed or not elapsed or total is None:
        return "ETA --:--"
    seconds = max(0, round(elapsed / completed * (total - completed)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"ETA {hours}:{minutes:02d}:{seconds:02d}" if hours else f"ETA {minutes}:{seconds:02d}"


@contextmanager
def progress_display(total: int, quiet: bool, records_to_terminal: bool, records_to_pipe: bool) -> Iterator[Display]:
    """The display for a batch of ``total`` documents (see the module docstring)."""
    if quiet:
        yield Display(lambda record: None, lambda path: None)
        return
    if not sys.stderr.isatty():
        yield _log_display(total) if log.isEnabledFor(logging.INFO) else Display(_errors_only, lambda path: None)
        return
    if records_to_pipe:
        yield _line_display(total)
        return
    yield from _live_display(total, records_to_terminal)


def _errors_only(record: Any) -> None:
    if (line := error_line(record, markup=False)) is not None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _log_display(total: int) -> Display:
    """``-v`` without a terminal: the error lines, and a log line per document as it finishes."""
    state = {"done": 0, "total": total}

    def advance(record: Any) -> None:
        _errors_only(record)
        state["done"] += 1
        log.info("[%d/%d] %s", state["done"], state["total"], status_line(record, markup=False))

    def skip(path: Path) -> None:
        state["total"] -= 1

    return Display(advance, skip)


def _line_display(total: int) -> Display:
    started = time.perf_counter()
    state = {"done": 0, "total": total}

    def advance(record: Any) -> None:
        _errors_only(record)
        state["done"] += 1
        eta = eta_text(time.perf_counter() - started, state["done"], state["total"])
        sys.stderr.write(f"[{state['done']}/{state['total']}] {status_line(record, markup=False)} ({eta})\n")
        sys.stderr.flush()

    def skip(path: Path) -> None:
        state["total"] -= 1

    return Display(advance, skip)


def _live_display(total: int, records_to_terminal: bool) -> Iterator[Display]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn
    from rich.text import Text

    class EtaColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(eta_text(task.elapsed, task.completed, task.total), style="progress.remaining")

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[pages]} pages"),
        EtaColumn(),
    )
    with Progress(*columns, console=console, transient=True, redirect_stdout=False) as progress:
        task = progress.add_task("extracting", total=total, pages=0)

        def advance(record: Any) -> None:
            console.print(error_line(record, markup=True) or status_line(record, markup=True), highlight=False)
            pages = progress.tasks[task].fields["pages"] + len(as_dict(record).get("pages") or ())
            progress.update(task, advance=1, pages=pages)

        def skip(path: Path) -> None:
            current = progress.tasks[task].total or 0
            progress.update(task, total=max(0, current - 1))

        def echo(text: str) -> None:
            console.print(text, markup=False, highlight=False, soft_wrap=True)

        yield Display(advance, skip, echo if records_to_terminal else None)
