"""Pipeline: does rendering starve the model? `qvl extract`'s batch against the model's time alone.

Same documents, same model, same generated tokens (``--max-new-tokens`` forced, unconstrained)
on every side:
- model alone: the pages are rendered beforehand (untimed); only input building and `generate`;
- qvl batch, render workers: the whole pipeline `qvl extract` runs (hashing, rendering in worker
  processes ahead of the model, answer checks, records), worker start-up included, called in this
  process with the loaded model (the results show the call: see common.qvl_batch);
- qvl batch, in-process rendering (no workers: one prefetch thread);
- bare loop: render with pypdfium2, then generate, one document after the other.
Goal: qvl with workers <= 1.1x the model alone.

    python bench/pipeline.py [--documents 12] [--pages 1] [--model PATH --device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import add_model_arguments, batch_documents, force_new_tokens, load_backend, qvl_batch
from harness import Case, Ratio, arguments, compare


def main() -> None:
    parser = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    add_model_arguments(parser)
    parser.add_argument("--documents", type=int, default=12)
    parser.add_argument("--pages", type=int, default=1, help="pages per document")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import pypdfium2 as pdfium
    import torch

    from qvl_cli.backends.qwen2_vl_inputs import build_inputs
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.rasterize import render_document
    from qvl_cli.runs.document import ExtractOptions
    from qvl_cli.schemas.catalog import load_schema
    from qvl_cli.schemas.prompts import load_prompt

    backend, model = load_backend(args)
    paths = batch_documents(Path(tempfile.mkdtemp(prefix="qvl-bench-pipeline-")), args.documents, args.pages)
    budget = PixelBudget(max_pixels=400_000)
    schema = load_schema("invoice")
    prompt = load_prompt(None, schema).render(schema, args.pages)
    config = force_new_tokens(backend, args.max_new_tokens)
    rendered = [[page.image for page in render_document(path, budget).pages] for path in paths]

    def generate(images: list) -> None:
        inputs = build_inputs(backend.tokenizer, backend.image_processor, images, prompt)
        with torch.inference_mode():
            backend.model.generate(**inputs, generation_config=config)

    def model_alone() -> None:
        for images in rendered:
            generate(images)

    def bare() -> None:
        for path, images in zip(paths, rendered, strict=True):
            pdf = pdfium.PdfDocument(str(path))
            pages = []
            for index, image in enumerate(images):
                page = pdf[index]
                scaled = page.render(scale=image.width / page.get_width()).to_pil().convert("RGB")
                pages.append(scaled.resize(image.size))
            generate(pages)
            pdf.close()

    options = ExtractOptions(budget=budget, max_new_tokens=args.max_new_tokens, constrain=False, reasks=0)
    name = f"qvl batch, {args.workers} render workers"
    cases = [
        Case("model alone (pages pre-rendered)", model_alone, "build_inputs + model.generate per document"),
        Case(name, *qvl_batch(backend, "invoice", paths, options, args.workers)),
        Case("qvl batch, in-process rendering", *qvl_batch(backend, "invoice", paths, options, 0)),
        Case("bare render + generate loop", bare, "pypdfium2 render + resize, then generate, per document"),
    ]
    ratios = [
        Ratio("qvl workers / model alone", name, cases[0].name, "<= 1.1"),
        Ratio("qvl in-process / model alone", cases[2].name, cases[0].name),
        Ratio("qvl workers / bare loop", name, cases[3].name, "<= 1.1"),
    ]
    info = {"model": model, "device": args.device, "documents": args.documents, "pages_per_document": args.pages,
            "new_tokens": args.max_new_tokens, "max_pixels": budget.max_pixels}  # fmt: skip
    compare("pipeline", cases, ratios, args, work=info)


if __name__ == "__main__":
    main()
