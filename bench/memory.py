"""Peak memory does not grow with document length or batch size.

Runs `qvl extract` (fake backend, so the model's own memory is left out and the pipeline is
measured: discovery, hashing, rendering, windows, prefetching, writing) and `qvl render` in a
fresh process per case, the cases alternating, several rounds, and prints each case's median
peak RSS (with min-max) and the ratio of the large case to the small one.

    python bench/memory.py [--rounds 5] [--only pages|files]

With evidence on (the default), the image files are read with OCR, so the files cases take
minutes a round; ``--only pages`` runs the PDF cases alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stderr.write(f"PEAK_MIB {peak_kib / 1024:.1f}\n")


def peak_mib(args: list[str]) -> float:
    env = {**os.environ, "QVL_BACKEND": "fake", "QVL_CACHE_DIR": tempfile.mkdtemp(prefix="qvl-bench-cache-")}
    result = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env, check=False
    )
    line = next(line for line in result.stderr.splitlines() if line.startswith("PEAK_MIB"))
    return float(line.split()[1])


def main() -> None:
    from pdf_factory import PageSpec, write_pdf
    from PIL import Image, ImageDraw

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=("pages", "files"), help="run only the PDF cases or only the files cases")
    parsed = parser.parse_args()
    rounds = parsed.rounds
    work = Path(tempfile.mkdtemp(prefix="qvl-bench-memory-"))
    page = PageSpec(lines=tuple(f"Line {i}: the quick brown fox jumps over the lazy dog" for i in range(40)))
    short = write_pdf(work / "short.pdf", [page] * 5)
    long = write_pdf(work / "long.pdf", [page] * 300)
    for count in (10, 1000) if parsed.only != "pages" else ():
        folder = work / f"files{count}"
        folder.mkdir()
        for i in range(count):
            image = Image.new("RGB", (850, 1100), "white")
            ImageDraw.Draw(image).text((60, 60), f"Receipt {i}\nTotal: {i}.00", fill="black")
            image.save(folder / f"receipt{i:04d}.png")

    common = ["extract", "--schema", "form", "-o", str(work / "out.jsonl"), "--quiet"]
    full = ["--max-total-pixels", "0"]  # every page at the full --max-pixels budget
    cases = {
        "render 5 pages": ["render", str(short), "--out", str(work / "r5"), *full],
        "render 300 pages": ["render", str(long), "--out", str(work / "r300"), *full],
        "extract 5 pages": [*common, str(short)],
        "extract 300 pages": [*common, str(long)],
        "extract 10 files": [*common, str(work / "files10")],
        "extract 1,000 files": [*common, str(work / "files1000")],
    }
    if parsed.only:
        cases = {name: args for name, args in cases.items() if name.endswith(parsed.only)}
    peaks: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, args in cases.items():  # alternating: every round runs every case once
            peaks[name].append(peak_mib(args))
            print(f"  {name}: {peaks[name][-1]:.1f} MiB", flush=True)
    for name, values in peaks.items():
        spread = f"min {min(values):.1f}, max {max(values):.1f}"
        print(f"{name:>20}: peak RSS {statistics.median(values):7.1f} MiB ({spread})")
    for small, large in (("render 5 pages", "render 300 pages"), ("extract 5 pages", "extract 300 pages"),
                         ("extract 10 files", "extract 1,000 files")):  # fmt: skip
        if small not in peaks:
            continue
        ratio = statistics.median(peaks[large]) / statistics.median(peaks[small])
        print(f"{large} / {small}: {ratio:.2f}x")
    print(json.dumps({"work": str(work)}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
