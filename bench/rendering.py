"""Rendering: `qvl render` with worker processes against one process, pypdfium2's CLI, a bare
pypdfium2 loop and pdftoppm.

Same work on every side: the same 300 A4 text pages, written as PNG files of 840 x 1176 pixels
(qvl's default budget for A4 at 200 dpi), one whole process per side per run (start-up
included). pypdfium2's CLI scales uniformly, so it renders at 840 px wide and crops the 12 extra
rows away; pdftoppm scales each axis to the size. Every side's output sizes are checked. qvl and
the pypdfium2 sides compared with it encode PNG with Pillow at its default level; pypdfium2's CLI
picks OpenCV's faster, lighter PNG encoder when OpenCV is installed (rapidocr brings it), shown
as a row of its own, without a goal, since its files are not the same work.
Goals: workers >= 1.7x qvl's one process on 2 cores, >= 1.5x pypdfium2's CLI with the same
number of processes, >= 2x pdftoppm.

    python bench/rendering.py [--pages 300] [--workers 2] [--repeats 5] [--no-pdftoppm]
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path

from harness import ROOT, Case, Ratio, arguments, compare, run_command

WIDTH, HEIGHT = 840, 1176
A4 = (595.28, 841.89)


def bare(pdf: str, out: str) -> None:
    """The least a pypdfium2 user writes for these sizes: each page into a bitmap of the size, PNG."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument(pdf)
    for index in range(len(document)):
        page = document[index]
        bitmap = pdfium.PdfBitmap.new_native(WIDTH, HEIGHT, pdfium_c.FPDFBitmap_BGR, rev_byteorder=True)
        bitmap.fill_rect((255, 255, 255, 255), 0, 0, WIDTH, HEIGHT)
        pdfium_c.FPDF_RenderPageBitmap(bitmap, page, 0, 0, WIDTH, HEIGHT, 0, pdfium_c.FPDF_ANNOT)
        bitmap.to_pil().save(f"{out}/page-{index + 1:03d}.png")


def make_pdf(path: Path, pages: int) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from pdf_factory import PageSpec, write_pdf

    lines = tuple(f"Line {i}: 2 x Widget {i} at 12.50 EUR, delivered 2026-11-{i % 28 + 1:02d}" for i in range(45))
    return write_pdf(path, [PageSpec(*A4, lines=(f"INVOICE PAGE {n + 1}", *lines)) for n in range(pages)])


def check_sizes(folder: Path, pages: int) -> None:
    from PIL import Image

    files = sorted(folder.glob("*.png"))
    sizes = {Image.open(f).size for f in files}
    if len(files) != pages or sizes != {(WIDTH, HEIGHT)}:
        raise SystemExit(f"{folder}: {len(files)} PNGs of sizes {sizes}, expected {pages} of {WIDTH} x {HEIGHT}")


def main() -> None:
    parser = arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-pdftoppm", action="store_true", help="leave pdftoppm out (it takes the longest)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qvl-bench-render-"))
    pdf = str(make_pdf(work / "a4.pdf", args.pages))
    python = sys.executable
    scale = (WIDTH - 0.001) / A4[0]  # pypdfium2 rounds sizes up
    crop = (math.ceil(A4[1] * scale) - HEIGHT - 0.001) / scale  # points off the bottom: HEIGHT rows left
    n = str(args.workers)
    sides = {
        f"qvl render, {n} workers": [python, "-m", "qvl_cli", "render", pdf, "--out", "{out}",
                                     "--max-total-pixels", "0", "--render-workers", n],
        "qvl render, one process": [python, "-m", "qvl_cli", "render", pdf, "--out", "{out}",
                                    "--max-total-pixels", "0", "--render-workers", "0"],
        f"pypdfium2 render --processes {n}": [python, "-m", "pypdfium2_cli", "render", pdf, "-o", "{out}",
                                              "--format", "png", "--engine", "pil", "--scale", repr(scale),
                                              "--crop", "0", repr(crop), "0", "0", "--processes", n],
        f"pypdfium2 render --processes {n}, OpenCV PNG": [python, "-m", "pypdfium2_cli", "render", pdf, "-o",
                                                          "{out}", "--format", "png", "--engine", "numpy+cv2",
                                                          "--scale", repr(scale), "--crop", "0", repr(crop), "0",
                                                          "0", "--processes", n],
        "bare pypdfium2 loop": [python, __file__, "--bare", pdf, "{out}"],
        "pdftoppm, one process": ["pdftoppm", "-png", "-scale-to-x", str(WIDTH), "-scale-to-y", str(HEIGHT),
                                  pdf, "{out}/page"],
    }  # fmt: skip
    if args.no_pdftoppm:
        del sides["pdftoppm, one process"]
    elif not shutil.which("pdftoppm"):
        print("pdftoppm not installed (apt-get install -y poppler-utils): left out")
        del sides["pdftoppm, one process"]
    cases = []
    for number, (name, argv) in enumerate(sides.items()):
        folder = work / f"out{number}"
        command = [part.replace("{out}", str(folder)) for part in argv]
        cases.append(Case(name, run_command(command), " ".join(_shown(argv, pdf)), partial(_empty, folder)))
    for number, case in enumerate(cases):  # every side makes the same files before anything is timed
        _empty(work / f"out{number}")
        case.run()
        check_sizes(work / f"out{number}", args.pages)
    first = cases[0].name
    goals = {"qvl render, one process": ">= 1.7", f"pypdfium2 render --processes {n}": ">= 1.5",
             "pdftoppm, one process": ">= 2"}  # fmt: skip
    ratios = [Ratio(f"{case.name} / qvl workers", case.name, first, goals.get(case.name, "")) for case in cases[1:]]
    work_info = {"pages": args.pages, "size": f"{WIDTH}x{HEIGHT}", "format": "PNG", "processes": args.workers}
    compare("rendering", cases, ratios, args, work=work_info)
    shutil.rmtree(work, ignore_errors=True)


def _empty(folder: Path) -> None:
    """Each run writes into an empty folder (untimed)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _shown(argv: list[str], pdf: str) -> list[str]:
    shown = [a.replace(pdf, "a4.pdf").replace("{out}", "OUT").replace(sys.executable, "python") for a in argv]
    return [a.replace(__file__, "bench/rendering.py") for a in shown]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":
        bare(sys.argv[2], sys.argv[3])
    else:
        main()
