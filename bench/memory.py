"""Peak memory does not grow with document length or the number of documents.

Runs `qvl extract` (fake backend, so the model's own memory is left out and the pipeline is
measured: discovery, hashing, rendering in worker processes, windows, prefetching, writing) and
`qvl render` in a fresh process per run. The figure is the main process's peak RSS plus the largest render worker's
peak (an upper bound of what they held together). Goal: large / small case <= 1.5.

    python bench/memory.py [--repeats 3]
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
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_kib += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stderr.write(f"PEAK_MIB {peak_kib / 1024:.1f}\n")


def peak_mib(args: list[str]) -> float:
    env = {**os.environ, "QVL_BACKEND": "fake", "QVL_CACHE_DIR": tempfile.mkdtemp(prefix="qvl-bench-cache-")}
    result = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env, check=False
    )
    line = next(line for line in result.stderr.splitlines() if line.startswith("PEAK_MIB"))
    return float(line.split()[1])


def main() -> None:
    args = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args()
    from pdf_factory import PageSpec, write_pdf
    from PIL import Image, ImageDraw

    work = Path(tempfile.mkdtemp(prefix="qvl-bench-memory-"))
    page = PageSpec(lines=tuple(f"Line {i}: the quick brown fox jumps over the lazy dog" for i in range(40)))
    short = write_pdf(work / "short.pdf", [page] * 5)
    long = write_pdf(work / "long.pdf", [page] * 300)
    for count in (10, 1000):
        folder = work / f"files{count}"
        folder.mkdir()
        for i in range(count):
            image = Image.new("RGB", (850, 1100), "white")
            ImageDraw.Draw(image).text((60, 60), f"Receipt {i}\nTotal: {i}.00", fill="black")
            image.save(folder / f"receipt{i:04d}.png")

    common = ["extract", "--schema", "form", "-o", str(work / "out.jsonl"), "--quiet"]
    full = ["--max-total-pixels", "0"]  # every page at the full --max-pixels budget
    commands = {
        "render 5 pages": ["render", str(short), "--out", str(work / "r5"), *full],
        "render 300 pages": ["render", str(long), "--out", str(work / "r300"), *full],
        "extract 5 pages": [*common, str(short)],
        "extract 300 pages": [*common, str(long)],
        "extract 10 files": [*common, str(work / "files10")],
        "extract 1,000 files": [*common, str(work / "files1000")],
    }
    cases = [
        Case(name, lambda a=argv: peak_mib(a), "QVL_BACKEND=fake qvl " + " ".join(argv).replace(f"{work}/", ""))
        for name, argv in commands.items()
    ]
    ratios = [
        Ratio("render 300 / 5 pages", "render 300 pages", "render 5 pages", "<= 1.5"),
        Ratio("extract 300 / 5 pages", "extract 300 pages", "extract 5 pages", "<= 1.5"),
        Ratio("extract 1,000 / 10 files", "extract 1,000 files", "extract 10 files", "<= 1.5"),
    ]
    compare("memory", cases, ratios, args, unit="MiB", work={"backend": "fake", "render_workers": "default"})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
