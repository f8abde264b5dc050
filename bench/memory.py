"""Peak memory does not grow with document length or the number of documents.

Runs `qvl extract` (fake backend, so the model's own memory is left out and the pipeline is
measured: discovery, hashing, rendering in worker processes, windows, page text, prefetching,
writing) and `qvl render` in a fresh process per run. The figure is the main process's peak RSS
plus the largest render worker's peak (with 2 workers, the other worker may hold as much again).
Goals: long / short PDF <= 1.3, many / few files <= 1.5. Page text is read from text layers
only by default (`--evidence text`): OCR of a thousand images would take about an hour;
`--evidence auto` includes it.

    python bench/memory.py [--repeats 5] [--only pages|files] [--long 300] [--files 1000] [--evidence text]

``--only pages`` runs the PDF cases alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import ROOT, Case, Ratio, arguments, compare

sys.path.insert(0, str(ROOT / "tests"))


def child(args: list[str]) -> None:
    """Run qvl in this process, then report this process's peak RSS in MiB on stderr."""
    from fake_backend import FakeBackend

    from qvl_cli.backends.contract import register_backend
    from qvl_cli.cli import app

    register_backend("fake", FakeBackend)  # the tests' backend: not part of the product

    try:
        app(args)
    except SystemExit:
        pass
    main_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest worker's peak
    sys.stderr.write(f"PEAK_MIB {(main_kib + workers_kib) / 1024:.1f}\n")
    sys.stderr.write(f"MAIN_MIB {main_kib / 1024:.1f} WORKER_MIB {workers_kib / 1024:.1f}\n")


def peak_mib(args: list[str]) -> float:
    env = {**os.environ, "QVL_BACKEND": "fake", "QVL_CACHE_DIR": tempfile.mkdtemp(prefix="qvl-bench-cache-")}
    result = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env, check=False
    )
    line = next(line for line in result.stderr.splitlines() if line.startswith("PEAK_MIB"))
    return float(line.split()[1])


def main() -> None:
    parser = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--only", choices=("pages", "files"), help="only the PDF cases, or only the files cases")
    parser.add_argument("--long", type=int, default=300, help="pages of the long PDF (default 300)")
    parser.add_argument("--files", type=int, default=1000, help="files of the large batch (default 1000)")
    parser.add_argument("--evidence", default="text", help="--evidence for extract (default text: no OCR)")
    args = parser.parse_args()
    from pdf_factory import PageSpec, write_pdf
    from PIL import Image, ImageDraw

    work = Path(tempfile.mkdtemp(prefix="qvl-bench-memory-"))
    page = PageSpec(lines=tuple(f"Line {i}: the quick brown fox jumps over the lazy dog" for i in range(40)))
    short = write_pdf(work / "short.pdf", [page] * 5)
    long = write_pdf(work / "long.pdf", [page] * args.long)
    for count in (10, args.files) if args.only != "pages" else ():
        folder = work / f"files{count}"
        folder.mkdir()
        for i in range(count):
            image = Image.new("RGB", (850, 1100), "white")
            ImageDraw.Draw(image).text((60, 60), f"Receipt {i}\nTotal: {i}.00", fill="black")
            image.save(folder / f"receipt{i:04d}.png")

    common = ["extract", "--schema", "form", "--evidence", args.evidence, "-o", str(work / "out.jsonl"), "--quiet"]
    full = ["--max-total-pixels", "0"]  # every page at the full --max-pixels budget
    commands = {
        "render 5 pages": ["render", str(short), "--out", str(work / "r5"), *full],
        f"render {args.long} pages": ["render", str(long), "--out", str(work / "rlong"), *full],
        "extract 5 pages": [*common, str(short)],
        f"extract {args.long} pages": [*common, str(long)],
        "extract 10 files": [*common, str(work / "files10")],
        f"extract {args.files:,} files": [*common, str(work / f"files{args.files}")],
    }
    cases = [
        Case(name, lambda a=argv: peak_mib(a), "QVL_BACKEND=fake qvl " + " ".join(argv).replace(f"{work}/", ""))
        for name, argv in commands.items()
        if args.only is None or name.endswith(args.only)
    ]
    ratios = [
        Ratio(f"render {args.long} / 5 pages", f"render {args.long} pages", "render 5 pages", "<= 1.3"),
        Ratio(f"extract {args.long} / 5 pages", f"extract {args.long} pages", "extract 5 pages", "<= 1.3"),
        Ratio(f"extract {args.files:,} / 10 files", f"extract {args.files:,} files", "extract 10 files", "<= 1.5"),
    ]
    names = {case.name for case in cases}
    ratios = [ratio for ratio in ratios if ratio.numerator in names]
    info = {"backend": "fake", "render_workers": "default", "evidence": args.evidence}
    compare("memory", cases, ratios, args, unit="MiB", work=info)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
