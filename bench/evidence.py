"""Evidence cost: page text per page (PDF text layer; OCR of a scan) and a batch with the tiny
model, evidence on against off.

Page text is read in the prefetch worker, next to rendering, so it overlaps model time; the
batch comparison shows what is left of it. Side by side: one warm-up each, then 5 alternating
repetitions; medians and spread (min-max).

    python bench/evidence.py [--documents 12] [--model PATH --device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import ROOT, NullSink, add_model_arguments, load_backend

CORPUS = ROOT.parent / "shared" / "corpus"


def spread(samples: list[float]) -> str:
    return f"{statistics.median(samples):.3f} s (min {min(samples):.3f}, max {max(samples):.3f})"


def alternate(
    first: Callable[[], float], second: Callable[[], float], reps: int = 5
) -> tuple[list[float], list[float]]:
    first(), second()  # warm-up
    a, b = [], []
    for _ in range(reps):
        a.append(first())
        b.append(second())
    return a, b


def page_costs(work: Path) -> None:
    from pdf_factory import PageSpec, write_pdf

    from qvl_cli.evidence.locate import locate
    from qvl_cli.evidence.pages import TextOptions, read_text
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.rasterize import render_document

    lines = tuple(f"Line {i}: 2 x Widget {i} at 12.50 EUR" for i in range(40))
    pdf = write_pdf(work / "text.pdf", [PageSpec(lines=("INVOICE 2024-17", *lines))] * 10)
    document = render_document(pdf, PixelBudget())
    pages = [(page.number - 1, page.image) for page in document.pages]
    data = {"invoice_number": "2024-17", "items": [{"d": f"Widget {i}", "amount": 12.5} for i in range(20)]}

    def text_layer() -> float:
        started = time.perf_counter()
        texts = read_text(str(pdf), True, pages, TextOptions("text"))
        locate(data, texts)
        return (time.perf_counter() - started) / len(pages)

    samples = [text_layer() for _ in range(6)][1:]
    print(f"text layer + locate (40-line page, 21 values): {spread(samples)} per page")

    receipts = sorted((CORPUS / "sroie/img").glob("*.jpg"))[:5]
    if not receipts:
        print("OCR: ../shared/corpus not present, skipped")
        return
    from qvl_cli.evidence.ocr import engine, ocr_page

    engine()  # built once per process
    ocr_samples = []
    for receipt in receipts:
        image = render_document(receipt, PixelBudget()).pages[0].image
        started = time.perf_counter()
        ocr_page(image, 1)  # no cache: the engine's real cost
        ocr_samples.append(time.perf_counter() - started)
    print(f"OCR (SROIE receipts at the default budget, no cache): {spread(ocr_samples)} per page")


def batch(args: argparse.Namespace, work: Path) -> None:
    from pdf_factory import PageSpec, write_pdf

    from qvl_cli.runs.batch import BatchRunner
    from qvl_cli.runs.document import ExtractOptions, Extractor
    from qvl_cli.schemas.catalog import load_schema
    from qvl_cli.schemas.prompts import load_prompt

    backend, model = load_backend(args)
    lines = tuple(f"Line {i}: 2 x Widget {i} at 12.50 EUR" for i in range(30))
    pages = [PageSpec(lines=(f"INVOICE {i}", *lines)) for i in range(args.documents)]
    paths = [write_pdf(work / f"d{i:02d}.pdf", [page]) for i, page in enumerate(pages)]
    schema = load_schema("invoice")
    config = backend._greedy(args.max_new_tokens)
    config.min_new_tokens = args.max_new_tokens  # the same generation work in both runs
    backend._greedy = lambda n: config  # type: ignore[method-assign]

    def run(evidence: str) -> Callable[[], float]:
        options = ExtractOptions(max_new_tokens=args.max_new_tokens, reasks=0, evidence=evidence)
        extractor = Extractor(schema, load_prompt(None, schema), options, lambda: backend)

        def once() -> float:
            started = time.perf_counter()
            BatchRunner(extractor, {}, NullSink()).run(paths)
            return time.perf_counter() - started

        return once

    on, off = alternate(run("auto"), run("off"))
    print(f"model: {model} on {args.device}; {len(paths)} one-page text PDFs, {args.max_new_tokens} new tokens each")
    print(f"evidence off: {spread(off)}")
    print(f"evidence on:  {spread(on)}")
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    print(f"on/off: median {statistics.median(ratios):.3f}x (min {min(ratios):.3f}, max {max(ratios):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--documents", type=int, default=12)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qvl-bench-evidence-"))
    page_costs(work)
    batch(args, work)


if __name__ == "__main__":
    main()
