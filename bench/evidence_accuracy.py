"""How often ``qvl locate`` puts a value where the corpus says it is printed, and how often it
refuses planted fakes: SROIE receipts (gold line boxes), FUNSD forms (gold answer boxes) and
invoice2data PDFs (text layer; each cited box is cut out and read back with OCR).

    python bench/evidence_accuracy.py [--limit N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from corpus_evidence import funsd_cases, invoice_cases, measure, sroie_cases  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="documents per set")
    parser.add_argument("--cache", default=None, help="QVL_CACHE_DIR to keep OCR results between runs")
    args = parser.parse_args()
    if args.cache:
        os.environ["QVL_CACHE_DIR"] = args.cache
    sets = {
        "SROIE receipts (OCR)": sroie_cases(args.limit),
        "FUNSD forms (OCR)": funsd_cases(args.limit),
        "invoice2data PDFs (text layer)": invoice_cases(),
    }
    print("| documents | values | located | fakes | refused | seconds |")
    print("|---|---|---|---|---|---|")
    for name, cases in sets.items():
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            score = measure(cases, Path(folder))
        seconds = time.perf_counter() - started
        print(
            f"| {name}: {len(cases)} | {score.values} | {score.located_share:.3f} | {score.fakes} "
            f"| {score.refused_share:.3f} | {seconds:.0f} |"
        )
        for miss in score.misses:
            print(f"  miss: {miss}", file=sys.stderr)


if __name__ == "__main__":
    main()
