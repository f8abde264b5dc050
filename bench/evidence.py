"""Evidence cost: page text per page (PDF text layer; OCR of a scan), and a batch with the tiny
model, evidence on against off.

Text layers are read by the render worker right after it renders the page; a page that needs
OCR goes to the model at once and its OCR runs as a worker task of its own beside the model, so
it overlaps model time; the batch comparison shows what is left of it. Same
documents, same model, same generated tokens (``--max-new-tokens`` forced) on every side; the
OCR cache is emptied before every run, so each "on" run OCRs its scans again. Each side is the
pipeline `qvl extract` runs, called in this process with one loaded model (the results show the
call: see common.qvl_batch):
- evidence off, render workers;
- evidence on (text layers, and OCR of the scanned documents), render workers;
- evidence on, in-process rendering (no workers: text read in the prefetch thread).
Goal: evidence on <= 1.1x evidence off. How much OCR can hide depends on the model's time per
document against OCR's time per scanned page (about 3.5 s on 2 cores): with the tiny model, raise
``--max-new-tokens`` or lower ``--scan-every`` to see either side.

    python bench/evidence.py [--documents 12] [--scan-every 4] [--model PATH --device cuda]
    python bench/evidence.py --pages-only      # only the per-page costs
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import ROOT, add_model_arguments, batch_documents, force_new_tokens, load_backend, qvl_batch, scan_pdf
from harness import Case, Ratio, arguments, compare

CORPUS = Path(os.environ.get("QVL_CORPUS") or ROOT.parent / "shared" / "corpus")


def page_costs(args: argparse.Namespace, work: Path) -> None:
    """Seconds per page: text layer + locate on a text PDF; OCR (no cache) of scanned pages."""
    from pdf_factory import PageSpec, write_pdf

    from qvl_cli.evidence.locate import locate
    from qvl_cli.evidence.ocr import engine, ocr_page
    from qvl_cli.evidence.pages import TextOptions, read_text
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.rasterize import render_document

    lines = tuple(f"Line {i}: 2 x Widget {i} at 12.50 EUR" for i in range(40))
    pdf = write_pdf(work / "text.pdf", [PageSpec(lines=("INVOICE 2024-17", *lines))] * 10)
    pages = [(page.number - 1, page.image) for page in render_document(pdf, PixelBudget()).pages]
    data = {"invoice_number": "2024-17", "items": [{"d": f"Widget {i}", "amount": 12.5} for i in range(20)]}
    receipts = sorted((CORPUS / "sroie/img").glob("*.jpg"))[:5]
    scans = receipts or [scan_pdf(work / f"scan{i}.pdf", f"RECEIPT {i}") for i in range(3)]
    images = [render_document(scan, PixelBudget()).pages[0].image for scan in scans]
    engine()  # built once per process, as in a render worker

    def text_layer() -> float:
        started = time.perf_counter()
        locate(data, list(read_text(str(pdf), True, pages, TextOptions("text"))))
        return (time.perf_counter() - started) / len(pages)

    def ocr() -> float:
        started = time.perf_counter()
        for image in images:
            ocr_page(image, 1)  # no cache: the engine's real cost
        return (time.perf_counter() - started) / len(images)

    which = "SROIE receipts" if receipts else "synthetic scans (no corpus)"
    cases = [
        Case("text layer + locate, per page", text_layer, "read_text(TextOptions('text')) + locate, 40-line page"),
        Case(f"OCR per page ({which})", ocr, "ocr_page at the default budget, no cache"),
    ]
    compare("evidence_pages", cases, [], args, work={"ocr_pages": [scan.name for scan in scans]})


def batch(args: argparse.Namespace, work: Path) -> None:
    from qvl_cli.runs.document import ExtractOptions

    backend, model = load_backend(args)
    paths = batch_documents(work, args.documents, scan_every=args.scan_every)
    scans = sum(path.stem.startswith("scan") for path in paths)
    force_new_tokens(backend, args.max_new_tokens)

    def run(evidence: str, workers: int) -> tuple[Callable[[], None], str]:
        options = ExtractOptions(max_new_tokens=args.max_new_tokens, reasks=0, evidence=evidence)
        return qvl_batch(backend, "invoice", paths, options, workers)

    def fresh_cache() -> None:
        """Every run as a fresh `qvl extract`: an empty OCR cache, the engine not yet built."""
        from qvl_cli.evidence import ocr

        os.environ["QVL_CACHE_DIR"] = tempfile.mkdtemp(prefix="qvl-bench-evidence-cache-")
        ocr._ENGINE = None  # in-process rendering builds it in this process, as qvl does once a run

    w = args.workers
    cases = [
        Case("evidence off", *run("off", w), fresh_cache),
        Case("evidence on", *run("auto", w), fresh_cache),
        Case("evidence on, in-process", *run("auto", 0), fresh_cache),
    ]
    ratios = [
        Ratio("evidence on / off", "evidence on", "evidence off", "<= 1.1"),
        Ratio("evidence on in-process / off", "evidence on, in-process", "evidence off"),
    ]
    info = {"model": model, "device": args.device, "documents": len(paths), "scanned_documents": scans,
            "new_tokens": args.max_new_tokens, "render_workers": w}  # fmt: skip
    compare("evidence", cases, ratios, args, work=info)


def main() -> None:
    parser = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    add_model_arguments(parser)
    parser.add_argument("--documents", type=int, default=12)
    parser.add_argument("--scan-every", type=int, default=4, help="every Nth document is a scan (0: none)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="render workers")
    parser.add_argument("--pages-only", action="store_true", help="only the per-page costs")
    parser.add_argument("--batch-only", action="store_true", help="only the batch comparison")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qvl-bench-evidence-"))
    if not args.batch_only:
        page_costs(args, work)
    if not args.pages_only:
        batch(args, work)


if __name__ == "__main__":
    main()
