"""``qvl extract``: documents in, one envelope per document out."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qvl_cli.backends.contract import create_backend
from qvl_cli.errors import EXIT_INTERRUPTED, EXIT_INVALID, EXIT_MODEL, EXIT_USAGE, EXIT_VALID, QvlError
from qvl_cli.pages.discover import expand_inputs
from qvl_cli.pages.pool import open_renderer
from qvl_cli.runs.batch import BatchRunner, Summary
from qvl_cli.runs.cache import ResultCache, default_cache_dir, run_identity
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.writers import AppendingFileWriter, AtomicFileWriter, DirectoryWriter, StreamWriter, Writer
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt
from qvl_cli.settings import Settings

_STATUS_EXIT = {"valid": EXIT_VALID, "invalid": EXIT_INVALID, "model": EXIT_MODEL, "out_of_memory": EXIT_MODEL}


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
    identity: dict[str, Any]
    use_cache: bool = True
    batch_size: int = 1

    @classmethod
    def prepare(cls, schema_ref: str, settings: Settings) -> ExtractRun:
        """Load the schema and prompt; the backend is created when the first document needs it, and
        the render workers when the first document is rendered."""
        schema = load_schema(schema_ref)
        prompt = load_prompt(settings.decoding.prompt, schema)
        options = ExtractOptions.from_settings(settings.render, settings.decoding)
        model = settings.model
        renderer = open_renderer(settings.render.render_workers, settings.render.render_timeout or None)
        extractor = Extractor(schema, prompt, options, lambda: create_backend(model.backend, model), renderer)
        identity = run_identity(schema.sha256, prompt.sha256, model.backend, model, options, extractor.max_new_tokens)
        batch_size = settings.run.batch_size
        if model.backend == "openai":
            batch_size = max(batch_size, model.concurrency)  # requests in flight come from batches
        return cls(extractor, identity, settings.run.cache, batch_size)

    def execute(self, inputs: Inputs, destination: Destination) -> int:
        """Extract every input, writing each record as soon as it is ready; returns the exit code."""
        try:
            return self._execute(inputs, destination)
        finally:
            self.extractor.renderer.close()  # no render worker outlives the run

    def _execute(self, inputs: Inputs, destination: Destination) -> int:
        paths = inputs.expand()
        writer = destination.open()
        recorded = writer.recorded() if destination.resume else {}
        cache = ResultCache(default_cache_dir()) if self.use_cache else None
        with _progress(len(paths), destination.quiet) as advance:
            runner = BatchRunner(
                self.extractor, self.identity, writer, cache, recorded, on_record=advance, batch_size=self.batch_size
            )
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
        return exit_code(runner.summary.statuses)


def exit_code(statuses: Sequence[str]) -> int:
    """3 if the model failed on a document, else 2 if an input failed, else 1 if any result is
    invalid, else 0."""
    return max((_STATUS_EXIT.get(status, EXIT_USAGE) for status in statuses), default=EXIT_VALID)


def report(record: dict[str, Any], console: Any | None) -> None:
    """A line on stderr: always for a failed document, and for every document on a terminal."""
    error = record.get("error")
    if error is not None:
        message = f"qvl: error: {error['message']}"
        if console is not None:
            from rich.markup import escape

            console.print(f"[bold red]qvl: error:[/] {escape(error['message'])}", highlight=False)
        else:
            sys.stderr.write(message + "\n")
    elif console is not None:
        from rich.markup import escape

        mark = "[green]valid[/]" if record["valid"] else f"[yellow]invalid[/] ({len(record['errors'])} errors)"
        pages = len(record.get("pages") or ())
        cached = ", from cache" if record.get("cached") else ""
        seconds = record["seconds"]
        text = f"{escape(record['file'])}: {mark}, {pages} page{'s' * (pages != 1)}, {seconds:.1f} s{cached}"
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

        def advance(record: dict[str, Any]) -> None:
            report(record, console)
            pages = progress.tasks[task].fields["pages"] + len(record.get("pages") or ())
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
