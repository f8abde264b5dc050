"""Pipeline overhead: `qvl extract` end to end against a bare render-and-generate loop.

The bare loop is what a minimal script does per document: render with pypdfium2, build the
Qwen2-VL inputs, call `generate` with a fixed token count. qvl runs the same documents through
its whole pipeline (hashing, rendering in a prefetch thread overlapped with generation, answer
checking, confidence, records written), first without and then with constrained decoding.
Target: qvl (unconstrained) / bare <= 1.1.

    python bench/pipeline.py [--model PATH --device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import NullSink, add_model_arguments, load_backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--documents", type=int, default=12)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()

    import pypdfium2 as pdfium
    import torch
    from pdf_factory import PageSpec, write_pdf

    from qvl_cli.backends.qwen2_vl_inputs import build_inputs
    from qvl_cli.pages.budgets import PixelBudget, fit_size
    from qvl_cli.runs.batch import BatchRunner
    from qvl_cli.runs.document import ExtractOptions, Extractor
    from qvl_cli.schemas.catalog import load_schema
    from qvl_cli.schemas.prompts import load_prompt

    backend, model = load_backend(args)
    work = Path(tempfile.mkdtemp(prefix="qvl-bench-pipeline-"))
    lines = tuple(f"Line {i}: 2 x Widget {i} at 12.50 EUR" for i in range(30))
    paths = [
        write_pdf(work / f"doc{i:02d}.pdf", [PageSpec(lines=(f"INVOICE {i}", *lines))]) for i in range(args.documents)
    ]
    budget = PixelBudget(max_pixels=400_000)
    schema = load_schema("invoice")
    prompt = load_prompt(None, schema).render(schema, 1)
    config = backend._greedy(args.max_new_tokens)
    config.min_new_tokens = args.max_new_tokens  # same amount of generation in both runs

    def bare() -> float:
        started = time.perf_counter()
        for path in paths:
            pdf = pdfium.PdfDocument(str(path))
            page = pdf[0]
            width, height = fit_size(page.get_width() * 200 / 72, page.get_height() * 200 / 72,
                                     budget.min_pixels, budget.max_pixels)  # fmt: skip
            image = page.render(scale=width / page.get_width()).to_pil().convert("RGB").resize((width, height))
            inputs = build_inputs(backend.tokenizer, backend.image_processor, [image], prompt)
            with torch.inference_mode():
                backend.model.generate(**inputs, generation_config=config)
            pdf.close()
        return time.perf_counter() - started

    def qvl(constrain: bool) -> float:
        options = ExtractOptions(budget=budget, max_new_tokens=args.max_new_tokens, constrain=constrain, reasks=0)
        extractor = Extractor(schema, load_prompt(None, schema), options, lambda: backend)
        original = backend._greedy
        backend._greedy = lambda n: config  # type: ignore[method-assign]
        try:
            started = time.perf_counter()
            BatchRunner(extractor, {}, NullSink()).run(paths)
            return time.perf_counter() - started
        finally:
            backend._greedy = original  # type: ignore[method-assign]

    bare()  # warm-up
    qvl(True)
    bare_seconds = min(bare() for _ in range(2))
    free_seconds = min(qvl(False) for _ in range(2))
    constrained_seconds = min(qvl(True) for _ in range(2))
    n = len(paths)
    print(f"model: {model} on {args.device}; {n} one-page PDFs, {args.max_new_tokens} new tokens each")
    print(f"bare render + generate loop:  {n / bare_seconds:5.2f} documents/s")
    ratio = free_seconds / bare_seconds
    print(f"qvl, unconstrained:           {n / free_seconds:5.2f} documents/s   qvl/bare time {ratio:.2f}x")
    print(f"qvl, constrained:             {n / constrained_seconds:5.2f} documents/s   "
          f"qvl/bare time {constrained_seconds / bare_seconds:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
