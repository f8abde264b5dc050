"""What the benchmarks share: the model to run (tiny random by default), the NullSink, and qvl's
batch pipeline run in this process with generation forced to a fixed number of tokens."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


class NullSink:
    """Records go nowhere: the benchmark measures the work, not the writing."""

    def write(self, record: object) -> None:
        return None


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint folder or hub id (default: a tiny random Qwen2-VL)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")


def load_backend(args: argparse.Namespace) -> tuple[Any, str]:
    """The transformers backend for ``--model`` (built tiny and random when not given)."""
    from qvl_cli.backends.contract import ModelSettings
    from qvl_cli.backends.transformers import TransformersBackend

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = args.model
    if model is None:
        from tiny_model import build_tiny_qwen2_vl

        model = str(build_tiny_qwen2_vl(tempfile.mkdtemp(prefix="qvl-bench-")))
    return TransformersBackend(ModelSettings(model=model, device=args.device)), model


def scan_pdf(path: Path, title: str) -> Path:
    """A one-page PDF that is only a picture of printed text (no text layer): it needs OCR."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (1275, 1650), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    for row, text in enumerate([title, *(f"{i + 1} x Widget {i} at 12.50 EUR" for i in range(20))]):
        draw.text((90, 90 + 60 * row), text, fill="black", font=font)
    image.save(path, resolution=150)
    return path


def batch_documents(folder: Path, count: int, pages: int = 1, scan_every: int = 0) -> list[Path]:
    """``count`` invoice-like PDFs of ``pages`` text pages (``doc<NN>.pdf``); with ``scan_every``
    N, every Nth is instead a one-page scan without a text layer (``scan<NN>.pdf``)."""
    from pdf_factory import PageSpec, write_pdf

    lines = tuple(f"Line {i}: 2 x Widget {i} at 12.50 EUR" for i in range(30))
    paths = []
    for i in range(count):
        if scan_every > 0 and i % scan_every == scan_every - 1:
            paths.append(scan_pdf(folder / f"scan{i:02d}.pdf", f"INVOICE {i}"))
        else:
            specs = [PageSpec(lines=(f"INVOICE {i} PAGE {p + 1}", *lines)) for p in range(pages)]
            paths.append(write_pdf(folder / f"doc{i:02d}.pdf", specs))
    return paths


def force_new_tokens(backend: Any, count: int) -> Any:
    """Every ``generate`` of ``backend`` writes exactly ``count`` tokens (greedy, no early stop),
    so every side does the same generation work; returns the generation config."""
    config = backend._greedy(count)
    config.min_new_tokens = count
    backend._greedy = lambda n: config
    return config


def qvl_batch(
    backend: Any, schema_name: str, paths: Sequence[Path], options: Any, workers: int
) -> tuple[Callable[[], None], str]:
    """qvl's batch pipeline (``BatchRunner`` over an ``Extractor``: what `qvl extract` runs) in this
    process with the loaded ``backend``, ``workers`` render workers (0: in-process rendering): a
    case body, and the call it times as the results show it. It is not a `qvl extract` command,
    which would load the model every run and could not force the tokens."""
    from qvl_cli.pages.pool import InlineRenderer, ProcessRenderer
    from qvl_cli.runs.batch import BatchRunner
    from qvl_cli.runs.document import Extractor
    from qvl_cli.schemas.catalog import load_schema
    from qvl_cli.schemas.prompts import load_prompt

    schema = load_schema(schema_name)

    def run() -> None:
        renderer = ProcessRenderer(workers) if workers else InlineRenderer()
        extractor = Extractor(schema, load_prompt(None, schema), options, lambda: backend, renderer)
        try:
            BatchRunner(extractor, {}, NullSink()).run(paths)
        finally:
            renderer.close()

    renderer = f"ProcessRenderer({workers})" if workers else "InlineRenderer()"
    tokens = getattr(backend._greedy(1), "min_new_tokens", None)
    forced = f", {tokens} new tokens forced" if tokens else ""
    call = f"Extractor({schema_name!r} schema, {_changed(options)}, loaded model, {renderer})"
    shown = f"in-process: BatchRunner({call}).run({len(paths)} PDFs){forced}"
    return run, shown


def _changed(value: Any) -> str:
    """A dataclass as its constructor call with only the fields that differ from the defaults."""
    fields = []
    for field in dataclasses.fields(value):
        own = getattr(value, field.name)
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        if own != default:
            shown = _changed(own) if dataclasses.is_dataclass(own) else repr(own)
            fields.append(f"{field.name}={shown}")
    return f"{type(value).__name__}({', '.join(fields)})"
