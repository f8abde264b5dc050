"""Where pages stop being legible: OCR accuracy against the text layer at falling pixel budgets.

Renders every text-layer page of the corpus PDFs the way qvl does (``fit_size`` at a per-page
budget, PDFium straight to that size), reads it with RapidOCR (PP-OCRv4, ONNX, models inside the
wheel) and compares the OCR text with the page's own text layer:

    accuracy = 1 - Levenshtein(ocr, text layer) / len(text layer)

over letters and digits, case folded, words sorted (the OCR's reading order and spacing differ
from the text layer's on multi-column pages; sorting keeps every misread character and drops
order). OCR is not perfect at any resolution (small print, text the text layer has and the image
hides), so each page's accuracy is also divided by its best accuracy over all budgets: the share
of what the OCR can read on that page that it still reads at this budget. The floor of
``--min-page-pixels`` is the smallest budget at which the median page keeps >= 0.95 of it.

    pip install rapidocr-onnxruntime rapidfuzz
    python bench/legibility.py [--budgets 128,256,...] [--max-pages 12]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("QVL_CORPUS", ROOT.parent / "shared" / "corpus"))
SOURCES = ("invoice2data/docs/*.pdf", "pdf-sample-files/docs/*/*.pdf", "pypdf/docs/*.pdf", "pdfjs/docs/*.pdf")
DEFAULT_TOKENS = (128, 256, 384, 512, 768, 1280, 2560)
MIN_TEXT_CHARS = 300  # pages with less text say little about legibility
TARGET = 0.95


def text_pages(limit: int) -> list[tuple[Path, int, str]]:
    """(pdf, page index, text layer) for pages with a real, mostly Latin text layer."""
    import pypdfium2 as pdfium

    found = []
    for pattern in SOURCES:
        for path in sorted(CORPUS.glob(pattern)):
            try:
                pdf = pdfium.PdfDocument(str(path))
            except pdfium.PdfiumError:
                continue
            for index in range(min(len(pdf), 3)):
                text = pdf[index].get_textpage().get_text_range()
                latin = sum(ch.isascii() for ch in text)
                if len(text.strip()) >= MIN_TEXT_CHARS and latin > 0.9 * len(text):
                    found.append((path, index, text))
            pdf.close()
            if len(found) >= limit:
                return found[:limit]
    return found


def normalized(text: str) -> str:
    """Letters and digits only, case folded, words sorted: reading order and spacing do not count."""
    return " ".join(sorted(re.findall(r"[^\W_]+", text.casefold())))


def accuracy(ocr: str, reference: str) -> float:
    from rapidfuzz.distance import Levenshtein

    ref = normalized(reference)
    return max(0.0, 1.0 - Levenshtein.distance(normalized(ocr), ref) / max(1, len(ref)))


def render(path: Path, index: int, pixels: int):  # -> numpy array
    import numpy as np

    from qvl_cli.pages.budgets import DEFAULT_MIN_PIXELS, fit_size
    from qvl_cli.pages.inputs import open_source
    from qvl_cli.pages.rasterize import DEFAULT_PDF_DPI, open_pages

    with open_pages(open_source(path), None, DEFAULT_PDF_DPI) as pages:
        size = fit_size(*pages.native_size(index), min(DEFAULT_MIN_PIXELS, pixels), pixels)
        return np.asarray(pages.render(index, size))


def ocr_texts(pages: list[tuple[Path, int, str]], budgets: list[int], cache: Path) -> dict[str, str]:
    """OCR text per page and budget, kept in ``cache`` (JSON) so metrics can be recomputed."""
    from rapidocr_onnxruntime import RapidOCR

    texts: dict[str, str] = json.loads(cache.read_text()) if cache.exists() else {}
    engine = RapidOCR()
    for path, index, _ in pages:
        for tokens in budgets:
            key = f"{path.relative_to(CORPUS)}#{index}@{tokens}"
            if key not in texts:
                result, _ = engine(render(path, index, tokens * 28 * 28))
                texts[key] = " ".join(line[1] for line in result or ())
                cache.write_text(json.dumps(texts))
        print(f"{path.relative_to(CORPUS)} p{index + 1}: read at {len(budgets)} budgets", flush=True)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default=",".join(map(str, DEFAULT_TOKENS)), help="visual tokens a page")
    parser.add_argument("--max-pages", type=int, default=12)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "qvl-legibility-ocr.json")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"corpus not found at {CORPUS} (set QVL_CORPUS)")
    pages = text_pages(args.max_pages)
    budgets = sorted(int(token) for token in args.budgets.split(","))
    print(f"{len(pages)} pages from {len({path for path, _, _ in pages})} PDFs", flush=True)
    texts = ocr_texts(pages, budgets, args.cache)
    absolute: dict[int, list[float]] = {tokens: [] for tokens in budgets}
    relative: dict[int, list[float]] = {tokens: [] for tokens in budgets}
    for path, index, reference in pages:
        key = f"{path.relative_to(CORPUS)}#{index}"
        scores = [accuracy(texts[f"{key}@{tokens}"], reference) for tokens in budgets]
        best = max(scores) or 1.0
        for tokens, score in zip(budgets, scores, strict=True):
            absolute[tokens].append(score)
            relative[tokens].append(score / best)
    print("\n| visual tokens a page | pixels | vs text layer: median | min | share of the page's best reading: median "
          "| min | pages >= 0.95 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for tokens in budgets:
        scores, rel = absolute[tokens], relative[tokens]
        good = sum(score >= TARGET for score in rel)
        print(
            f"| {tokens} | {tokens * 784:,} | {statistics.median(scores):.3f} | {min(scores):.3f} "
            f"| {statistics.median(rel):.3f} | {min(rel):.3f} | {good}/{len(rel)} |"
        )
    legible = [tokens for tokens in budgets if statistics.median(relative[tokens]) >= TARGET]
    floor = min(legible, default=None)
    print(f"\nsmallest budget keeping >= {TARGET} of the best reading (median page): {floor} tokens")


if __name__ == "__main__":
    main()
