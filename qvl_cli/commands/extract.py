"""``qvl extract``: documents in, one envelope per document out."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qvl_cli.backends import ModelSettings, create_backend
from qvl_cli.errors import EXIT_INVALID, EXIT_MODEL, EXIT_USAGE, EXIT_VALID
from qvl_cli.extract import ExtractOptions, Extractor
from qvl_cli.output import AtomicFileWriter, StreamWriter
from qvl_cli.prompts import load_prompt
from qvl_cli.results import Envelope
from qvl_cli.schemas import load_schema

_FAILURE_EXIT = {"model": EXIT_MODEL, "output": EXIT_MODEL}


@dataclass(frozen=True)
class ExtractRun:
    """A prepared extraction: schema and prompt checked, model not yet loaded."""

    extractor: Extractor

    @classmethod
    def prepare(
        cls,
        *,
        schema_ref: str,
        prompt_ref: str | None,
        options: ExtractOptions,
        backend_name: str,
        settings: ModelSettings,
    ) -> ExtractRun:
        schema = load_schema(schema_ref)
        prompt = load_prompt(prompt_ref, schema)
        return cls(Extractor(schema, prompt, options, lambda: create_backend(backend_name, settings)))

    def execute(self, paths: Sequence[Path], output: Path | None) -> int:
        """Extract every path, writing each envelope as soon as it is ready; returns the exit code."""
        writer = AtomicFileWriter(output) if output else StreamWriter(sys.stdout, pretty=sys.stdout.isatty())
        envelopes = []
        try:
            for path in paths:
                envelope = self.extractor.extract(path)
                writer.write(envelope.to_dict())
                report(envelope)
                envelopes.append(envelope)
        except BaseException:
            if isinstance(writer, AtomicFileWriter):
                writer.discard()
            raise
        writer.close()
        return exit_code(envelopes)


def report(envelope: Envelope) -> None:
    """A line on stderr: always for a failed document, and for every document on a terminal."""
    if envelope.error is not None:
        sys.stderr.write(f"qvl: error: {envelope.error.message}\n")
    elif sys.stderr.isatty():
        from rich.console import Console
        from rich.markup import escape

        mark = "[green]valid[/]" if envelope.valid else f"[yellow]invalid[/] ({len(envelope.errors)} errors)"
        pages = len(envelope.pages)
        Console(stderr=True).print(
            f"{escape(envelope.file)}: {mark}, {pages} page{'s' * (pages != 1)}, {envelope.seconds:.1f} s",
            highlight=False,
        )


def exit_code(envelopes: Sequence[Envelope]) -> int:
    """3 if the model failed on a document, else 2 if an input failed, else 1 if any result is
    invalid, else 0."""
    codes = [EXIT_VALID]
    for envelope in envelopes:
        if envelope.error is not None:
            codes.append(_FAILURE_EXIT.get(envelope.error.type, EXIT_USAGE))
        elif not envelope.valid:
            codes.append(EXIT_INVALID)
    return max(codes)
