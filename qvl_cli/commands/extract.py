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
from qvl_cli.commands.progress import progress_display
from qvl_cli.errors import EXIT_INTERRUPTED, EXIT_VALID, QvlError
from qvl_cli.pages.discover import find_documents
from qvl_cli.runs.batch import Summary
from qvl_cli.runs.targets import is_stdout, refuse_overwriting
from qvl_cli.runs.writers import AppendingFileWriter, AtomicFileWriter, DirectoryWriter, StreamWriter, Writer
from qvl_cli.settings import Settings
from qvl_cli.wording import plural


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
        if self.resume and (is_stdout(self.output) or not (self.output or self.output_dir)):
            raise QvlError("--resume needs -o FILE or --output-dir DIR to know what is already done")

    def open(self, inputs: Sequence[Path] = ()) -> Writer:
        """The writer; a usage error when ``-o FILE`` is one of ``inputs`` or a document."""
        if self.output_dir:
            return DirectoryWriter(self.output_dir)
        if self.output and not is_stdout(self.output):
            refuse_overwriting(self.output, inputs)
            return AppendingFileWriter(self.output) if self.resume else AtomicFileWriter(self.output)
        return StreamWriter(sys.stdout, pretty=sys.stdout.isatty())


@dataclass(frozen=True)
class Inputs:
    """What to process: paths, folders (walked), ``-`` for a list on stdin."""

    arguments: tuple[str, ...]
    recursive: bool = False
    glob: str | None = None
    null_separated: bool = False

    def expand(self) -> list[Path]:
        """Every document to process; :class:`NothingFound` (exit 2) when there is none."""
        return find_documents(
            self.arguments, recursive=self.recursive, glob=self.glob, null_separated=self.null_separated
        )


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
        writer = destination.open(paths)
        for note in getattr(writer, "notices", ()):
            _print_line(note, destination.quiet)
        recorded = writer.recorded() if destination.resume else {}
        to_stdout = isinstance(writer, StreamWriter)
        to_terminal, to_pipe = to_stdout and sys.stdout.isatty(), to_stdout and not sys.stdout.isatty()
        with progress_display(len(paths), destination.quiet, to_terminal, to_pipe) as display:
            if display.echo is not None and isinstance(writer, StreamWriter):
                writer.echo = display.echo  # records on the terminal go through the live display
            runner = self.extractor.runner(writer, recorded, on_record=display.advance)
            runner.on_skip = display.skip
            try:
                with _sigterm_as_interrupt():
                    runner.run(paths)
            except KeyboardInterrupt:
                if runner.summary.documents:
                    writer.close()  # keep every finished record
                else:
                    writer.discard()  # none: the previous output stays
                done = runner.summary.documents + runner.summary.skipped
                _print_line(f"interrupted after {done} of {plural(len(paths), 'document')}", destination.quiet)
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
    _print_line(summary.line(), quiet)


def _print_line(text: str, quiet: bool) -> None:
    if not quiet:
        sys.stderr.write(f"qvl: {text}\n")
