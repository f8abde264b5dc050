"""The ``qvl`` command line: parse options, call the library, print, map errors to exit codes.

Nothing heavy is imported here: torch, transformers, pypdfium2 and Pillow load only inside the
commands that need them, so ``qvl --help`` is instant.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

from qvl_cli import __version__
from qvl_cli.backends.contract import DEFAULT_MODEL, ModelSettings
from qvl_cli.errors import EXIT_INTERRUPTED, QvlError
from qvl_cli.pages.budgets import DEFAULT_MAX_PIXELS, DEFAULT_MAX_TOTAL_PIXELS, DEFAULT_MIN_PIXELS, PixelBudget

if TYPE_CHECKING:
    from qvl_cli.pages.rasterize import InputLimits

T = TypeVar("T")
DEFAULT_MAX_PAGES = 2000
DEFAULT_MAX_FILE_SIZE_MIB = 1024
DEFAULT_RENDER_TIMEOUT = 120.0

app = typer.Typer(
    name="qvl",
    help="Turn documents (PDFs and images) into JSON validated against a JSON Schema, with Qwen2-VL.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

BUDGETS = "Pixel budgets"
MODEL = "Model"
INPUT = "Input"
OUTPUT = "Answers"
RESULTS = "Results"
SERVER = "Server (--backend openai)"

MinPixels = Annotated[
    int,
    typer.Option(
        "--min-pixels", envvar="QVL_MIN_PIXELS", rich_help_panel=BUDGETS, help="Smallest page size in pixels."
    ),
]
MaxPixels = Annotated[
    int,
    typer.Option(
        "--max-pixels",
        envvar="QVL_MAX_PIXELS",
        rich_help_panel=BUDGETS,
        help="Largest page size in pixels (28x28 pixels = 1 visual token).",
    ),
]
MaxTotalPixels = Annotated[
    int,
    typer.Option(
        "--max-total-pixels",
        envvar="QVL_MAX_TOTAL_PIXELS",
        rich_help_panel=BUDGETS,
        help="Cap for all pages of a document together; pages shrink evenly to fit (0: no cap).",
    ),
]
Dpi = Annotated[
    float,
    typer.Option("--dpi", rich_help_panel=BUDGETS, help="Native resolution of PDF pages before budgets apply."),
]
Pages = Annotated[
    str | None, typer.Option("--pages", rich_help_panel=INPUT, help="Pages to use, e.g. '1-3,7' or '2-'.")
]
MaxPages = Annotated[
    int,
    typer.Option(
        "--max-pages",
        envvar="QVL_MAX_PAGES",
        rich_help_panel=INPUT,
        help="Refuse documents with more selected pages (0: no limit).",
    ),
]
MaxFileSize = Annotated[
    int,
    typer.Option(
        "--max-file-size",
        envvar="QVL_MAX_FILE_SIZE",
        rich_help_panel=INPUT,
        help="Refuse files larger than this many MiB (0: no limit).",
    ),
]
RenderWorkers = Annotated[
    int | None,
    typer.Option(
        "--render-workers",
        envvar="QVL_RENDER_WORKERS",
        rich_help_panel=INPUT,
        help="Processes that render pages (default: the cores, at most 8; 0: render in this process).",
        show_default=False,
    ),
]
RenderTimeout = Annotated[
    float,
    typer.Option(
        "--render-timeout",
        envvar="QVL_RENDER_TIMEOUT",
        rich_help_panel=INPUT,
        help="Seconds a page may take to render before its document fails (0: no limit; needs workers).",
    ),
]
Password = Annotated[
    str | None,
    typer.Option("--password", envvar="QVL_PDF_PASSWORD", rich_help_panel=INPUT, help="Password of encrypted PDFs."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qvl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress and library messages.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Options for every command."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # Decoders log their complaints about damaged files; the error record already says it.
        logging.getLogger("PIL").setLevel(logging.CRITICAL)


@app.command()
def extract(
    paths: Annotated[
        list[str],
        typer.Argument(help="PDF or image files, folders, or - to read paths from stdin.", show_default=False),
    ],
    schema: Annotated[str, typer.Option("--schema", "-s", help="Built-in schema name or a JSON Schema file.")],
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Built-in prompt name or a text file (default: by schema).")
    ] = None,
    model: Annotated[
        str,
        typer.Option("--model", "-m", envvar="QVL_MODEL", rich_help_panel=MODEL, help="Hub id or local folder."),
    ] = DEFAULT_MODEL,
    revision: Annotated[
        str | None, typer.Option("--revision", rich_help_panel=MODEL, help="Hub branch, tag or commit to pin.")
    ] = None,
    quant: Annotated[
        str, typer.Option("--quant", envvar="QVL_QUANT", rich_help_panel=MODEL, help="none | 4bit | 8bit.")
    ] = "none",
    dtype: Annotated[
        str,
        typer.Option("--dtype", envvar="QVL_DTYPE", rich_help_panel=MODEL, help="auto | bfloat16 | float16 | float32."),
    ] = "auto",
    device: Annotated[
        str, typer.Option("--device", envvar="QVL_DEVICE", rich_help_panel=MODEL, help="auto | cpu | cuda | mps.")
    ] = "auto",
    backend: Annotated[
        str,
        typer.Option("--backend", envvar="QVL_BACKEND", rich_help_panel=MODEL, help="transformers | openai | fake."),
    ] = "transformers",
    max_new_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-new-tokens",
            rich_help_panel=OUTPUT,
            help="Most tokens the model may write (default: derived from the schema).",
        ),
    ] = None,
    constrain: Annotated[
        bool,
        typer.Option(
            "--constrain/--no-constrain",
            rich_help_panel=OUTPUT,
            help="Decode under the schema's grammar, so the answer is always valid JSON of its shape.",
        ),
    ] = True,
    reasks: Annotated[
        int,
        typer.Option("--reask", rich_help_panel=OUTPUT, help="Times to re-ask with the validation errors."),
    ] = 1,
    min_confidence: Annotated[
        float | None,
        typer.Option(
            "--min-confidence", rich_help_panel=OUTPUT, help="Warn about fields whose confidence is below this."
        ),
    ] = None,
    min_pixels: MinPixels = DEFAULT_MIN_PIXELS,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
    max_total_pixels: MaxTotalPixels = DEFAULT_MAX_TOTAL_PIXELS,
    dpi: Dpi = 200.0,
    pages: Pages = None,
    password: Password = None,
    max_pages: MaxPages = DEFAULT_MAX_PAGES,
    max_file_size: MaxFileSize = DEFAULT_MAX_FILE_SIZE_MIB,
    render_workers: RenderWorkers = None,
    render_timeout: RenderTimeout = DEFAULT_RENDER_TIMEOUT,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", rich_help_panel=INPUT, help="Walk folders recursively.")
    ] = False,
    glob: Annotated[
        str | None, typer.Option("--glob", rich_help_panel=INPUT, help="Only files in folders matching, e.g. '*.pdf'.")
    ] = None,
    null: Annotated[
        bool, typer.Option("-0", "--null", rich_help_panel=INPUT, help="Paths on stdin are NUL-separated.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", rich_help_panel=RESULTS, help="Write JSON Lines to this file, not stdout."),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", rich_help_panel=RESULTS, help="Write one <name>.json per document here."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", rich_help_panel=RESULTS, help="Skip documents already in -o FILE / --output-dir."),
    ] = False,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache/--no-cache",
            rich_help_panel=RESULTS,
            help="Reuse results for unchanged documents (cache folder: env QVL_CACHE_DIR).",
        ),
    ] = True,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", rich_help_panel=RESULTS, help="No progress, summary or error lines.")
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", envvar="QVL_BASE_URL", rich_help_panel=SERVER, help="OpenAI-compatible server URL."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="OPENAI_API_KEY", rich_help_panel=SERVER, help="Key for the server, if any."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", rich_help_panel=SERVER, help="Requests in flight at once.")
    ] = 4,
    timeout: Annotated[float, typer.Option("--timeout", rich_help_panel=SERVER, help="Seconds per request.")] = 120.0,
    retries: Annotated[
        int, typer.Option("--retries", rich_help_panel=SERVER, help="Retries on 429, 5xx and timeouts.")
    ] = 4,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            envvar="QVL_BATCH_SIZE",
            rich_help_panel=MODEL,
            help="Documents per generate call (faster on a GPU); records keep input order.",
        ),
    ] = 1,
) -> None:
    """Extract JSON from documents: one envelope per document (JSON Lines when piped)."""
    _check_choice("--quant", quant, ("none", "4bit", "8bit"))
    _check_choice("--dtype", dtype, ("auto", "bfloat16", "float16", "float32"))
    _check_choice("--device", device, ("auto", "cpu", "cuda", "mps"))
    if max_new_tokens is not None and max_new_tokens < 1:
        _fail(QvlError("--max-new-tokens must be at least 1"))
    if reasks < 0:
        _fail(QvlError("--reask must not be negative"))
    if batch_size < 1:
        _fail(QvlError("--batch-size must be at least 1"))
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        _fail(QvlError("--min-confidence must be between 0 and 1"))
    if concurrency < 1:
        _fail(QvlError("--concurrency must be at least 1"))
    workers, page_timeout = _render_settings(render_workers, render_timeout)
    settings = ModelSettings(
        model=model,
        revision=revision,
        quant=quant,
        dtype=dtype,
        device=device,
        base_url=base_url,
        api_key=api_key,
        concurrency=concurrency,
        timeout=timeout,
        retries=retries,
    )
    if backend == "openai":
        batch_size = max(batch_size, concurrency)  # requests in flight come from batches
    from qvl_cli.commands.extract import Destination, ExtractRun, Inputs
    from qvl_cli.runs.document import ExtractOptions

    run = _guard(
        lambda: ExtractRun.prepare(
            schema_ref=schema,
            prompt_ref=prompt,
            options=ExtractOptions(
                budget=PixelBudget(min_pixels, max_pixels, max_total_pixels or None),
                pages=pages,
                max_new_tokens=max_new_tokens,
                password=password,
                dpi=dpi,
                constrain=constrain,
                reasks=reasks,
                min_confidence=min_confidence,
                limits=_limits(max_pages, max_file_size),
            ),
            backend_name=backend,
            settings=settings,
            use_cache=cache,
            batch_size=batch_size,
            render_workers=workers,
            render_timeout=page_timeout,
        )
    )
    destination = _guard(lambda: Destination(output, output_dir, resume, quiet))
    inputs = Inputs(tuple(paths), recursive, glob, null)
    raise typer.Exit(_guard(lambda: run.execute(inputs, destination)))


@app.command()
def render(
    path: Annotated[Path, typer.Argument(help="PDF or image file.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder for the page images (PNG).")],
    min_pixels: MinPixels = DEFAULT_MIN_PIXELS,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
    max_total_pixels: MaxTotalPixels = DEFAULT_MAX_TOTAL_PIXELS,
    dpi: Dpi = 200.0,
    pages: Pages = None,
    password: Password = None,
    render_workers: RenderWorkers = None,
    render_timeout: RenderTimeout = DEFAULT_RENDER_TIMEOUT,
) -> None:
    """Write the exact page images the model would see, and a table of their sizes and tokens."""
    from qvl_cli.commands.render import render_pages

    budget = _guard(lambda: PixelBudget(min_pixels, max_pixels, max_total_pixels or None))
    workers, page_timeout = _render_settings(render_workers, render_timeout)
    _guard(lambda: render_pages(path, out, budget, pages, password, dpi, workers, page_timeout))


Format = Annotated[str, typer.Option("--format", help="text | github (Actions annotations) | json.")]


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="JSON or JSONL files (plain data or qvl records).")],
    schema: Annotated[str, typer.Option("--schema", "-s", help="Built-in schema name or a JSON Schema file.")],
    fmt: Format = "text",
) -> None:
    """Validate stored JSON against a schema, without any model (exit 1 if invalid)."""
    from qvl_cli.commands.validate import validate_files

    _check_choice("--format", fmt, ("text", "github", "json"))
    raise typer.Exit(_guard(lambda: validate_files(files, schema, fmt)))


@app.command()
def check(
    paths: Annotated[list[Path], typer.Argument(help="Documents to check (what pre-commit passes).")],
    config: Annotated[
        Path | None, typer.Option("--config", help="Rules file (default: .qvl.toml or pyproject.toml [tool.qvl]).")
    ] = None,
    fmt: Format = "text",
    write_sidecar: Annotated[
        bool, typer.Option("--write-sidecar", help="Store each result as <document>.qvl.json beside it.")
    ] = False,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse results for unchanged documents.")] = True,
) -> None:
    """Extract and check documents against the repository's rules (exit 1 if any check fails)."""
    from qvl_cli.commands.check import check_documents

    _check_choice("--format", fmt, ("text", "github", "json"))
    raise typer.Exit(_guard(lambda: check_documents(paths, config, fmt, write_sidecar, cache)))


@app.command(name="eval")
def eval_command(
    predictions: Annotated[Path, typer.Argument(help="JSONL of qvl records (qvl extract -o).", show_default=False)],
    gold: Annotated[Path, typer.Option("--gold", help="Folder of <name>.json ground truth, or a JSONL.")],
    adapter: Annotated[
        str | None, typer.Option("--adapter", help="Gold format: sroie | invoice2data | a mapping file.")
    ] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Numbers match within this.")] = 0.01,
    similarity: Annotated[
        float, typer.Option("--similarity", help="Strings match from this difflib ratio (1: exactly, after folding).")
    ] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report instead of a table.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="List every differing field per document.")] = False,
) -> None:
    """Score extractions against ground truth: precision, recall, F1 and exact match per field."""
    from qvl_cli.commands.eval import run_eval

    raise typer.Exit(_guard(lambda: run_eval(predictions, gold, adapter, tolerance, similarity, as_json, diff)))


@app.command(name="serve-check")
def serve_check(
    base_url: Annotated[str, typer.Option("--base-url", envvar="QVL_BASE_URL", help="OpenAI-compatible server URL.")],
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="OPENAI_API_KEY", help="Key, if any.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait.")] = 10.0,
) -> None:
    """Tell whether an OpenAI-compatible server is reachable and which models it serves."""
    from qvl_cli.commands.serve_check import check_server

    raise typer.Exit(_guard(lambda: check_server(base_url, api_key, timeout)))


@app.command()
def schemas() -> None:
    """List the built-in schemas."""
    from qvl_cli.commands.schemas import list_schemas

    _guard(list_schemas)


def _limits(max_pages: int, max_file_size_mib: int) -> InputLimits:
    from qvl_cli.pages.rasterize import InputLimits

    return InputLimits(max_pages or None, max_file_size_mib * 2**20 or None)


def _render_settings(workers: int | None, timeout: float) -> tuple[int, float | None]:
    """``--render-workers`` (default: the cores, capped) and ``--render-timeout`` (0: none), checked."""
    if workers is not None and workers < 0:
        _fail(QvlError(f"--render-workers must be 0 (render in this process) or more; got {workers}"))
    if timeout < 0:
        _fail(QvlError(f"--render-timeout must be 0 (no limit) or a number of seconds; got {timeout:g}"))
    if workers is None:
        from qvl_cli.pages.pool import default_workers

        workers = default_workers()
    return workers, timeout or None


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(QvlError(f"{option} must be one of {', '.join(choices)}; got {value!r}"))


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
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[bold red]qvl: error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def main() -> None:
    app()
