"""``qvl review``: one self-contained HTML file showing each record's fields over its pages."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from qvl_cli.errors import QvlError
from qvl_cli.review.report import DEFAULT_THRESHOLD, ONLY_CHOICES, DocumentView, document_view, render_html, selected


@dataclass(frozen=True)
class ReviewOptions:
    output: str = "review.html"  # "-" for stdout
    only: tuple[str, ...] = ()
    threshold: float = DEFAULT_THRESHOLD
    password: str | None = None

    def __post_init__(self) -> None:
        for kind in self.only:
            if kind not in ONLY_CHOICES:
                raise QvlError(f"--only must be one of {', '.join(ONLY_CHOICES)}; got {kind!r}")
        if not 0 <= self.threshold <= 1:
            raise QvlError("--min-confidence must be between 0 and 1")


def write_review(sources: Sequence[str], options: ReviewOptions) -> int:
    """Build the report of every record in ``sources`` and write it; returns the exit code (0)."""
    from qvl_cli.review.pages import page_images
    from qvl_cli.review.records import load_records

    if options.output != "-":
        from qvl_cli.runs.targets import refuse_overwriting

        refuse_overwriting(options.output, sources)
    loaded = load_records(sources)
    for line in loaded.skipped:
        _note(line)
    chosen = [item for item in loaded.records if selected(item.record, options.only, options.threshold)]
    documents: list[DocumentView] = []
    with _progress(len(chosen), options.output != "-") as advance:
        for index, item in enumerate(chosen, start=1):
            pages = page_images(item.record, item.base, options.password)
            if pages.problem and not item.record.get("error"):
                _note(f"{item.origin}: {pages.problem}")
            documents.append(document_view(index, item.origin, item.record, pages, options.threshold))
            advance()
    title = ", ".join("stdin" if source == "-" else Path(source).name for source in sources)
    html = render_html(documents, title, options.threshold, loaded.skipped)
    _write(html, options.output)
    if options.output != "-":
        shown = f"{len(documents)} of {len(loaded.records)}" if options.only else str(len(documents))
        _note(f"wrote {options.output}: {shown} document{'s' if len(documents) != 1 else ''}", prefix="qvl")
    return 0


def _write(html: str, output: str) -> None:
    if output == "-":
        sys.stdout.write(html)
        sys.stdout.flush()
        return
    from qvl_cli.runs.targets import write_output

    write_output(output, html, mode=0o644)  # a report to open and share, not a private temporary file


def _note(line: str, prefix: str = "qvl: warning") -> None:
    sys.stderr.write(f"{prefix}: {line}\n")


@contextmanager
def _progress(total: int, allowed: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr when it is a terminal and the run is long enough to need one."""
    if not (allowed and sys.stderr.isatty() and total > 1):
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("rendering pages"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("review", total=total)
        yield lambda: progress.advance(task)
