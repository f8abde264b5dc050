"""Bytes per page of a ``qvl review`` report, and seconds per page to build it.

Takes up to 50 pages of real documents from ``../shared/corpus`` (``QVL_CORPUS``), makes one
record per document as ``qvl extract`` would (pages at their budgeted sizes, default budgets),
builds the report, and prints its size per page. For comparison it also encodes the same page
images as PNG (what a lossless report would embed).

    python bench/review_size.py

Speed is not the point here (the report is built once per run), size is: a 50-page report
should stay within a few tens of MB.
"""

from __future__ import annotations

import base64
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from qvl_cli.commands.review import ReviewOptions, write_review
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.rasterize import render_document
from qvl_cli.review.pages import data_uri

CORPUS = Path(os.environ.get("QVL_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))
FOLDERS = ("funsd/images", "invoice2data/docs", "sroie/img", "pdf-sample-files/docs")
TARGET_PAGES = 50


def documents() -> list[Path]:
    found = []
    for folder in FOLDERS:
        found += sorted(p for p in (CORPUS / folder).glob("*") if p.suffix.lower() in (".pdf", ".png", ".jpg"))
    return found


def main() -> None:
    if not CORPUS.is_dir():
        sys.exit(f"corpus not found at {CORPUS} (set QVL_CORPUS)")
    records, pages, png_bytes, webp_bytes = [], 0, 0, 0
    for path in documents():
        if pages >= TARGET_PAGES:
            break
        try:
            rendered = render_document(path, PixelBudget(), f"1-{TARGET_PAGES - pages}")
        except Exception:  # a corpus file qvl refuses is not part of this measurement
            try:
                rendered = render_document(path, PixelBudget())
            except Exception:
                continue
        for page in rendered.pages:
            buffer = io.BytesIO()
            page.image.save(buffer, format="PNG")
            png_bytes += len(base64.b64encode(buffer.getvalue()))
            webp_bytes += len(data_uri(page.image))
        pages += len(rendered.pages)
        records.append({"file": str(path), "valid": True, "data": {}, "pages": [p.describe() for p in rendered.pages]})
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "run.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in records))
        target = Path(folder) / "review.html"
        write_review([str(source)], ReviewOptions(output=str(target)))  # warm-up
        times = []
        for _ in range(5):
            started = time.perf_counter()
            write_review([str(source)], ReviewOptions(output=str(target)))
            times.append(time.perf_counter() - started)
        size = target.stat().st_size
    print(f"{len(records)} documents, {pages} pages")
    print(f"report: {size / 2**20:.2f} MiB, {size / pages / 1024:.0f} KiB per page (WebP q80 data URIs)")
    webp, png = webp_bytes / pages / 1024, png_bytes / pages / 1024
    print(f"page images alone: WebP {webp:.0f} KiB/page, PNG {png:.0f} KiB/page")
    median = statistics.median(times)
    spread = f"{min(times):.2f}-{max(times):.2f}"
    print(f"build (5 runs): median {median:.2f} s, spread {spread} s, {median / pages * 1000:.0f} ms/page")


if __name__ == "__main__":
    main()
