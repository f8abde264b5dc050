"""Page rendering speed: qvl's pipeline against a bare pypdfium2 loop and against pdftoppm.

All three produce the same pixels per page (qvl's budgeted size). qvl's pipeline includes
opening, measuring, budget planning and RGB conversion; the bare loop is the least any
pypdfium2 user writes; pdftoppm (poppler, what pdf2image wraps) writes PPM files, the cheapest
format it has. Targets: qvl / bare >= 0.95, qvl / pdftoppm >= 2.

    python bench/rendering.py [PDF ...]     # default: the multi-page PDFs in ../shared/corpus
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def corpus_pdfs() -> list[Path]:
    pdfs = [p for p in sorted(CORPUS.rglob("*.pdf")) if "encrypt" not in p.name and "password" not in p.name]
    return pdfs + [ROOT / "examples" / "invoice.pdf"]


def best_of(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    import pypdfium2 as pdfium

    from qvl_cli.errors import InputError
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.rasterize import render_document

    budget = PixelBudget(max_total_pixels=None)
    candidates = [Path(p) for p in sys.argv[1:]] or corpus_pdfs()
    jobs = []  # (path, [(index, width, height)])
    for path in candidates:
        try:
            document = render_document(path, budget)
        except InputError:
            continue
        jobs.append((path, [(page.number - 1, *page.size) for page in document.pages]))
    pages = sum(len(sizes) for _, sizes in jobs)

    def qvl() -> None:
        for path, _ in jobs:
            render_document(path, budget)

    def bare() -> None:
        for path, sizes in jobs:
            pdf = pdfium.PdfDocument(str(path))
            for index, width, _ in sizes:
                page = pdf[index]
                page.render(scale=width / page.get_width()).to_pil().convert("RGB")
            pdf.close()

    out = Path(tempfile.mkdtemp(prefix="qvl-bench-pdftoppm-"))

    def poppler() -> None:
        for number, (path, sizes) in enumerate(jobs):
            for index, width, height in sizes:
                subprocess.run(
                    ["pdftoppm", "-f", str(index + 1), "-l", str(index + 1), "-scale-to-x", str(width),
                     "-scale-to-y", str(height), str(path), str(out / f"{number}-{index}")],
                    check=False, capture_output=True,
                )  # fmt: skip

    qvl_seconds = best_of(3, qvl)
    bare_seconds = best_of(3, bare)
    print(f"{len(jobs)} PDFs, {pages} pages at qvl's budgeted sizes (default budgets)")
    print(f"qvl pipeline:     {pages / qvl_seconds:7.1f} pages/s")
    print(f"bare pypdfium2:   {pages / bare_seconds:7.1f} pages/s   qvl/bare = {bare_seconds / qvl_seconds:.2f}")
    if shutil.which("pdftoppm"):
        poppler_seconds = best_of(1, poppler)
        print(f"pdftoppm (PPM):   {pages / poppler_seconds:7.1f} pages/s   qvl/pdftoppm = "
              f"{poppler_seconds / qvl_seconds:.2f}")  # fmt: skip
    else:
        print("pdftoppm: not installed (apt-get install poppler-utils), skipped")


if __name__ == "__main__":
    main()
