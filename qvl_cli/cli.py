"""The ``qvl`` command line: parse options, call the library, print, map errors to exit codes.

Options that are settings (model, budgets, decoding...) are generated from their declarations in
:mod:`qvl_cli.settings` by :func:`~qvl_cli.cli_options.setting_options`; the command gets the
ones given on the command line as one layer over the configuration file and the environment.
Nothing heavy is imported here: torch, transformers, pypdfium2 and Pillow load only inside the
commands that need them, so ``qvl --help`` is instant.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from qvl_cli import __version__
from qvl_cli.cli_display import QvlGroup, print_error, wide_help
from qvl_cli.cli_options import setting_options, tidy_help
from qvl_cli.errors import EXIT_INTERRUPTED, QvlError
from qvl_cli.settings import DecodingSettings, Layer, ModelSettings, RenderSettings, RunSettings
from qvl_cli.settings.records import INPUT, RESULTS

T = TypeVar("T")
ALL_SETTINGS = (ModelSettings, RenderSettings, DecodingSettings, RunSettings)
RENDER_ONLY = ("png_compression",)  # settings of `qvl render` alone (the page images it writes)

tidy_help()
wide_help()
app = typer.Typer(
    name="qvl",
    cls=QvlGroup,
    help="Turn documents (PDFs and images) into JSON validated against a JSON Schema, with Qwen2-VL.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qvl {__version__}")
        raise typer.Exit()


def _verbose(value: bool) -> None:
    """Configure logging: ``-v`` (before or after the command's name) shows qvl's own messages from
    INFO up; other libraries (httpx, openai, PIL...) stay at WARNING, so their debug chatter does not
    bury qvl's lines."""
    if value or not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=value
        )
    own = logging.getLogger("qvl_cli")
    if value:
        own.setLevel(logging.INFO)
        logging.getLogger("PIL").setLevel(logging.NOTSET)  # its warnings about damaged files, no more
    elif own.level != logging.INFO:  # no -v before the command's name either
        # Decoders log their complaints about damaged files; the error record already says it.
        logging.getLogger("PIL").setLevel(logging.CRITICAL)


Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", callback=_verbose, help="Log progress and notes (libraries: warnings only).")
]
Schema = Annotated[str, typer.Option("--schema", "-s", metavar="NAME|FILE", help="Built-in schema name or a file.")]
Format = Annotated[str, typer.Option("--format", metavar="text|github|json", help="Report format.")]


@app.callback()
def main_options(
    verbose: Verbose = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Options for every command."""


@app.command()
@setting_options(*ALL_SETTINGS, exclude=RENDER_ONLY)
def extract(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH", help="PDF or image files, folders, or - to read paths from stdin.", show_default=False
        ),
    ],
    schema: Schema,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", rich_help_panel=INPUT, help="Walk folders recursively.")
    ] = False,
    glob: Annotated[
        str | None,
        typer.Option(
            "--glob", metavar="PATTERN", rich_help_panel=INPUT, help="Only files in folders matching, e.g. '*.pdf'."
        ),
    ] = None,
    null: Annotated[
        bool, typer.Option("-0", "--null", rich_help_panel=INPUT, help="Paths on stdin are NUL-separated.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", rich_help_panel=RESULTS, help="JSON Lines to this file (- for stdout)."
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", metavar="DIR", rich_help_panel=RESULTS, help="Write one <name>.json per document here."
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", rich_help_panel=RESULTS, help="Skip documents already in -o FILE / --output-dir."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", rich_help_panel=RESULTS, help="No progress, summary or error lines.")
    ] = False,
    verbose: Verbose = False,
    *,
    flags: Layer,
) -> None:
    """Extract JSON from documents: one envelope per document (JSON Lines when piped)."""
    from qvl_cli.commands.extract import Destination, ExtractRun, Inputs
    from qvl_cli.settings import command_settings

    run = _guard(lambda: ExtractRun.prepare(schema, command_settings(flags)))
    destination = _guard(lambda: Destination(output, output_dir, resume, quiet))
    inputs = Inputs(tuple(paths), recursive, glob, null)
    raise typer.Exit(_guard(lambda: run.execute(inputs, destination)))


@app.command()
@setting_options(RenderSettings)
def render(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="PDF or image file.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder for the page images (PNG).")],
    verbose: Verbose = False,
    *,
    flags: Layer,
) -> None:
    """Write the exact page images the model would see, and a table of their sizes and tokens."""
    from qvl_cli.commands.render import render_pages
    from qvl_cli.settings import command_settings

    settings = _guard(lambda: command_settings(flags, records=(RenderSettings,)))
    _guard(lambda: render_pages(path, out, settings.render))


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE", help="JSON or JSONL files (plain data or qvl records), or - for stdin."),
    ],
    schema: Schema,
    fmt: Format = "text",
    verbose: Verbose = False,
) -> None:
    """Validate stored JSON against a schema, without any model (exit 1 if invalid)."""
    from qvl_cli.commands.validate import validate_files

    _check_choice("--format", fmt, ("text", "github", "json"))
    raise typer.Exit(_guard(lambda: validate_files(files, schema, fmt)))


@app.command()
@setting_options(*ALL_SETTINGS, exclude=RENDER_ONLY)
def check(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH", help="Documents to check (what pre-commit passes).")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", metavar="FILE", help="Rules file (default: .qvl.toml or pyproject.toml \\[tool.qvl])."
        ),
    ] = None,
    fmt: Format = "text",
    write_sidecar: Annotated[
        bool, typer.Option("--write-sidecar", help="Store each result as <document>.qvl.json beside it.")
    ] = False,
    verbose: Verbose = False,
    *,
    flags: Layer,
) -> None:
    """Extract and check documents against the repository's rules (exit 1 if any check fails)."""
    from qvl_cli.commands.check import check_documents

    _check_choice("--format", fmt, ("text", "github", "json"))
    raise typer.Exit(_guard(lambda: check_documents(paths, config, fmt, write_sidecar, flags)))


@app.command(name="eval")
def eval_command(
    predictions: Annotated[
        Path,
        typer.Argument(
            metavar="PREDICTIONS", help="JSONL of qvl records (qvl extract -o); - reads stdin.", show_default=False
        ),
    ],
    gold: Annotated[
        Path, typer.Option("--gold", metavar="DIR|FILE", help="Folder of <name>.json ground truth, or a JSONL.")
    ],
    adapter: Annotated[
        str | None,
        typer.Option("--adapter", metavar="NAME|FILE", help="Gold format: sroie | invoice2data | a mapping file."),
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", metavar="X", min=0.0, help="Numbers match within this.")
    ] = 0.01,
    similarity: Annotated[
        float,
        typer.Option(
            "--similarity",
            metavar="R",
            min=0.0,
            max=1.0,
            help="Strings match from this difflib ratio, 0-1 (1: exactly, after folding).",
        ),
    ] = 1.0,
    fmt: Annotated[str, typer.Option("--format", metavar="text|json", help="A table, or a JSON report.")] = "text",
    as_json: Annotated[bool, typer.Option("--json", hidden=True, help="Same as --format json.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="List every differing field per document.")] = False,
    verbose: Verbose = False,
) -> None:
    """Score extractions against ground truth: precision, recall, F1 and exact match per field."""
    from qvl_cli.commands.eval import run_eval

    _check_choice("--format", fmt, ("text", "json"))
    as_json = as_json or fmt == "json"
    raise typer.Exit(_guard(lambda: run_eval(predictions, gold, adapter, tolerance, similarity, as_json, diff)))


@app.command()
def locate(
    ctx: typer.Context,
    records: Annotated[
        str,
        typer.Argument(metavar="RECORDS", help="JSONL of records with 'file' and 'data', or - for stdin."),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the records to this file (- for stdout)."),
    ] = None,
    evidence: Annotated[
        str,
        typer.Option(
            "--evidence", metavar="auto|text|ocr", envvar="QVL_EVIDENCE", help="Text layer, else OCR | text | ocr."
        ),
    ] = "auto",
    password: Annotated[
        str | None,
        typer.Option("--password", metavar="PW", envvar="QVL_PDF_PASSWORD", help="Password of encrypted PDFs."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary or error lines.")] = False,
    verbose: Verbose = False,
) -> None:
    """Add or refresh 'evidence' (where each value is printed) in existing records."""
    from qvl_cli.commands.locate import locate_records

    if evidence not in ("auto", "text", "ocr"):
        source = ctx.get_parameter_source("evidence")
        where = "QVL_EVIDENCE" if source is not None and source.name == "ENVIRONMENT" else "--evidence"
        _fail(QvlError(f"{where}: {evidence!r}: qvl locate needs auto, text or ocr"))
    raise typer.Exit(_guard(lambda: locate_records(records, output, evidence, password, quiet)))


def _only_settings(*keep: str) -> tuple[str, ...]:
    """The names of every render and decoding setting except ``keep`` (to leave out of a command)."""
    from qvl_cli.settings import declared

    return tuple(s.name for r in (RenderSettings, DecodingSettings) for s in declared(r) if s.name not in keep)


@app.command()
@setting_options(
    RenderSettings,
    DecodingSettings,
    exclude=_only_settings("password", "min_confidence"),
    helps={"min_confidence": "Shade fields whose confidence is below this (default: 0.5)."},
)
def review(
    records: Annotated[
        list[str],
        typer.Argument(
            metavar="RECORDS", help="JSONL of qvl records (qvl extract -o), or - for stdin.", show_default=False
        ),
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="FILE", help="HTML file to write (- for stdout).")
    ] = "review.html",
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="KIND",
            help="Only documents that are: invalid | warnings | low-confidence (repeatable).",
        ),
    ] = None,
    verbose: Verbose = False,
    *,
    flags: Layer,
) -> None:
    """Write one self-contained HTML report: each document's fields beside its pages, values boxed.

    Fields below --min-confidence (0.5 when not set) count as low confidence.
    """
    from qvl_cli.commands.review import ReviewOptions, write_review
    from qvl_cli.review.report import DEFAULT_THRESHOLD
    from qvl_cli.settings import command_settings

    settings = _guard(lambda: command_settings(flags, records=(RenderSettings, DecodingSettings)))
    threshold = settings.decoding.min_confidence
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    options = _guard(lambda: ReviewOptions(output, tuple(only or ()), threshold, settings.render.password))
    raise typer.Exit(_guard(lambda: write_review(records, options)))


@app.command(name="serve-check")
def serve_check(
    ctx: typer.Context,
    base_url: Annotated[
        str, typer.Option("--base-url", metavar="URL", envvar="QVL_BASE_URL", help="OpenAI-compatible server URL.")
    ],
    api_key: Annotated[
        str | None, typer.Option("--api-key", metavar="KEY", envvar="OPENAI_API_KEY", help="Key, if any.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS", help="Seconds to wait.")] = 10.0,
    verbose: Verbose = False,
) -> None:
    """Tell whether an OpenAI-compatible server is reachable and which models it serves."""
    from qvl_cli.commands.serve_check import check_server

    source = ctx.get_parameter_source("base_url")
    where = "QVL_BASE_URL" if source is not None and source.name == "ENVIRONMENT" else "--base-url"
    raise typer.Exit(_guard(lambda: check_server(base_url, api_key, timeout, where)))


@app.command()
def schemas(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Print this built-in schema (JSON).", show_default=False)
    ] = None,
    verbose: Verbose = False,
) -> None:
    """List the built-in schemas, or print one."""
    from qvl_cli.commands.schemas import list_schemas, print_schema

    _guard(lambda: print_schema(name) if name else list_schemas())


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(QvlError(f"{option}: {value!r} is not one of {', '.join(choices)}"))


def _guard(action: Callable[[], T]) -> T:
    """Run ``action``; a :class:`QvlError` becomes one line on stderr and its exit code."""
    try:
        return action()
    except QvlError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        sys.stderr.write("qvl: interrupted\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _fail(exc: QvlError) -> NoReturn:
    if os.environ.get("QVL_DEBUG"):
        raise exc
    print_error(str(exc))
    raise typer.Exit(exc.exit_code)


def main() -> None:
    """The command line; standard output that cannot be written ends it cleanly (:mod:`qvl_cli.cli_stdout`)."""
    from qvl_cli.cli_stdout import guarded_stdout

    with guarded_stdout():
        app()
