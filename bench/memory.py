"""Peak memory of a batch does not grow with document length or batch size.

Runs `qvl extract` (fake backend, so the model's own memory is left out and the pipeline is
measured: discovery, hashing, rendering, prefetching, writing) in a fresh process per case and
prints each case's peak RSS and the ratio of the large case to the small one.

    python bench/memory.py
"""

from __future__ import annotations

import json
import os
import resource
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

    work = Path(tempfile.mkdtemp(prefix="qvl-bench-memory-"))
    page = PageSpec(lines=tuple(f"Line {i}: the quick brown fox jumps over the lazy dog" for i in range(40)))
    short = write_pdf(work / "short.pdf", [page] * 5)
    long = write_pdf(work / "long.pdf", [page] * 500)
    for count in (10, 1000):
        folder = work / f"files{count}"
        folder.mkdir()
        for i in range(count):
            image = Image.new("RGB", (850, 1100), "white")
            ImageDraw.Draw(image).text((60, 60), f"Receipt {i}\nTotal: {i}.00", fill="black")
            image.save(folder / f"receipt{i:04d}.png")

    common = ["extract", "--schema", "form", "-o", str(work / "out.jsonl"), "--quiet"]
    cases = {
        "5-page PDF": common + [str(short)],
        "500-page PDF": common + [str(long)],
        "10 files": common + [str(work / "files10")],
        "1,000 files": common + [str(work / "files1000")],
    }
    peaks = {name: peak_mib(args) for name, args in cases.items()}
    for name, peak in peaks.items():
        print(f"{name:>14}: peak RSS {peak:7.1f} MiB")
    print(f"500-page / 5-page PDF: {peaks['500-page PDF'] / peaks['5-page PDF']:.2f}x")
    print(f"1,000 / 10 files:      {peaks['1,000 files'] / peaks['10 files']:.2f}x")
    print(json.dumps({"work": str(work)}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
