"""``qvl extract``: documents in, one envelope per document out."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qvl_cli.api import Extractor
from qvl_cli.errors import EXIT_INTERRUPTED, EXIT_VALID, QvlError
from qvl_cli.pages.discover import expand_inputs
from qvl_cli.runs.batch import Summary
from qvl_cli.runs.records import Envelope
from qvl_cli.runs.writers import AppendingFileWriter, AtomicFileWriter, DirectoryWriter, StreamWriter, Writer
from qvl_cli.settings import Settings


@dataclass(frozen=True)
class Destination:
    """Where records go, and how: stdout, one JSONL file, or one file per document."""

    output: Path | None = None
    output_dir: Path | None = None
    resume: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.output and self.output_dir:
            raise QvlError("use either -o/--output or --output-dir, not both")
        if self.resume and not (self.output or self.output_dir):
            raise QvlError("--resume needs -o FILE or --output-dir DIR to know what is already done")

    def open(self) -> Writer:
        if self.output_dir:
            return DirectoryWriter(self.output_dir)
        if self.output and self.resume:
            return AppendingFileWriter(self.output)
        if self.output:
            return AtomicFileWriter(self.output)
        return StreamWriter(sys.stdout, pretty=sys.stdout.isatty())


@dataclass(frozen=True)
class Inputs:
    """What to process: paths, folders (walked), ``-`` for a list on stdin."""

    arguments: tuple[str, ...]
    recursive: bool = False
    glob: str | None = None
    null_separated: bool = False

    def expand(self) -> list[Path]:
        found = expand_inputs(
            self.arguments, recursive=self.recursive, glob=self.glob, null_separated=self.null_separated
        )
        return list(found)


@dataclass(frozen=True)
class ExtractRun:
    """A prepared extraction: schema and prompt checked, model not yet loaded."""

    extractor: Extractor

    @classmethod
    def prepare(cls, schema_ref: str, settings: Settings) -> ExtractRun:
        """Load the schema and prompt; the backend is created when the first document needs it."""
        return cls(Extractor(schema_ref, settings=settings))

    @property
    def identity(self) -> dict[str, Any]:
        return self.extractor.identity

    def execute(self, inputs: Inputs, destination: Destination) -> int:
        """Extract every input, writing each record as soon as it is ready; returns the exit code."""
        try:
            return self._execute(inputs, destination)
        finally:
            self.extractor.close()  # no render worker outlives the run

    def _execute(self, inputs: Inputs, destination: Destination) -> int:
        paths = inputs.expand()
        writer = destination.open()
        recorded = writer.recorded() if destination.resume else {}
        with _progress(len(paths), destination.quiet) as advance:
            runner = self.extractor.runner(writer, recorded, on_record=advance)
            try:
                with _sigterm_as_interrupt():
                    runner.run(paths)
            except KeyboardInterrupt:
                writer.close()  # keep every finished record
                _print_summary(runner.summary, destination.quiet)
                return EXIT_INTERRUPTED
            except BaseException:
                writer.discard()
                raise
        writer.close()
        if len(paths) != 1 or runner.summary.skipped:
            _print_summary(runner.summary, destination.quiet)
        return exit_code(runner.summary.exit_codes)


def exit_code(codes: Sequence[int]) -> int:
    """The highest of the documents' codes: 3 if the model failed on one, else 2 if an input
    failed, else 1 if any result is invalid, else 0."""
    return max(codes, default=EXIT_VALID)


def report(record: Envelope, console: Any | None) -> None:
    """A line on stderr: always for a failed document, and for every document on a terminal."""
    if record.error is not None:
        message = record.error.message
        if console is not None:
            from rich.markup import escape

            console.print(f"[bold red]qvl: error:[/] {escape(message)}", highlight=False)
        else:
            sys.stderr.write(f"qvl: error: {message}\n")
    elif console is not None:
        from rich.markup import escape

        mark = "[green]valid[/]" if record.valid else f"[yellow]invalid[/] ({len(record.errors)} errors)"
        pages = len(record.pages)
        cached = ", from cache" if record.cached else ""
        text = f"{escape(record.file)}: {mark}, {pages} page{'s' * (pages != 1)}, {record.seconds:.1f} s{cached}"
        console.print(text, highlight=False)


@contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Any]:
    """Rich progress on stderr when it is a terminal; otherwise only error lines."""
    if quiet or not sys.stderr.isatty():
        yield lambda record: None if quiet else report(record, None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[pages]} pages"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("extracting", total=total, pages=0)

        def advance(record: Envelope) -> None:
            report(record, console)
            pages = progress.tasks[task].fields["pages"] + len(record.pages)
            progress.update(task, advance=1, pages=pages)

        yield advance


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a batch the way Ctrl-C does: finished records kept, summary printed."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_summary(summary: Summary, quiet: bool) -> None:
    if not quiet:
        sys.stderr.write(f"qvl: {summary.line()}\n")
