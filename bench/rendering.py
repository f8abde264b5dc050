"""Rendering: `qvl render` with worker processes against one process, pypdfium2's CLI, a bare
pypdfium2 loop and pdftoppm.

Same work on every side: the same 300 A4 text pages, written as PNG files of 840 x 1176 pixels
(qvl's default budget for A4 at 200 dpi), one whole process per side per run (start-up
included). pypdfium2's CLI scales uniformly, so it renders at 840 px wide and crops the 12 extra
rows away; pdftoppm scales each axis to the size. Every side's output sizes are checked, and its
files' size a page is printed (and saved with the results).

PNG encoding is most of the work, so sides are compared at the same zlib level. qvl writes its
PNGs itself (rows unfiltered, grey pages such as these as greyscale, zlib at `--png-compression`,
default 1). pypdfium2's CLI has no
compression flag: with `--engine pil` it saves with Pillow's default (zlib level 6, adaptive row
filters), with `--engine numpy+cv2` (its default when OpenCV is installed) with OpenCV's (zlib
level 1, RLE strategy); pdftoppm's libpng writer uses level 9. So qvl at its default level 1 is
compared with the OpenCV engine, qvl at level 6 with the Pillow engine, qvl at level 9 with
pdftoppm, and qvl in one process with a bare pypdfium2 loop that saves with Pillow at level 1.
The encoders differ in row filters, strategy and colour type even at one level: the printed
sizes show what each side's files cost. Rasterizing and encoding are the same per-page work on every side, so
the ratios to pypdfium2's CLI measure the encoders and qvl's overhead, not rendering.
Goals: workers >= 1.7x qvl's one process on 2 cores, >= 1.5x pypdfium2's CLI with the same
number of processes at the same zlib level, >= 2x pdftoppm at the same zlib level.

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
    """The least a pypdfium2 user writes for these sizes: each page into a bitmap of the size, PNG
    (Pillow at zlib level 1, qvl's default level)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument(pdf)
    for index in range(len(document)):
        page = document[index]
        bitmap = pdfium.PdfBitmap.new_native(WIDTH, HEIGHT, pdfium_c.FPDFBitmap_BGR, rev_byteorder=True)
        bitmap.fill_rect((255, 255, 255, 255), 0, 0, WIDTH, HEIGHT)
        pdfium_c.FPDF_RenderPageBitmap(bitmap, page, 0, 0, WIDTH, HEIGHT, 0, pdfium_c.FPDF_ANNOT)
        bitmap.to_pil().save(f"{out}/page-{index + 1:03d}.png", compress_level=1)


def make_pdf(path: Path, pages: int) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from pdf_factory import PageSpec, write_pdf

    lines = tuple(f"Line {i}: 2 x Widget {i} at 12.50 EUR, delivered 2026-11-{i % 28 + 1:02d}" for i in range(45))
    return write_pdf(path, [PageSpec(*A4, lines=(f"INVOICE PAGE {n + 1}", *lines)) for n in range(pages)])


def check_sizes(folder: Path, pages: int) -> float:
    """Check that ``folder`` holds ``pages`` PNGs of the size; their mean file size in KiB."""
    from PIL import Image

    files = sorted(folder.glob("*.png"))
    sizes = {Image.open(f).size for f in files}
    if len(files) != pages or sizes != {(WIDTH, HEIGHT)}:
        raise SystemExit(f"{folder}: {len(files)} PNGs of sizes {sizes}, expected {pages} of {WIDTH} x {HEIGHT}")
    return sum(f.stat().st_size for f in files) / len(files) / 1024


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
    qvl = [python, "-m", "qvl_cli", "render", pdf, "--out", "{out}", "--max-total-pixels", "0"]
    pypdfium2 = [python, "-m", "pypdfium2_cli", "render", pdf, "-o", "{out}", "--format", "png", "--scale",
                 repr(scale), "--crop", "0", repr(crop), "0", "0", "--processes", n]  # fmt: skip
    workers, one = f"qvl render, {n} workers (zlib 1, default)", "qvl render, one process (zlib 1)"
    level6, level9 = f"qvl render, {n} workers, zlib 6", f"qvl render, {n} workers, zlib 9"
    opencv = f"pypdfium2 render --processes {n}, OpenCV PNG (zlib 1)"
    pillow = f"pypdfium2 render --processes {n}, Pillow PNG (zlib 6)"
    bare_loop, pdftoppm = "bare pypdfium2 loop, Pillow PNG (zlib 1)", "pdftoppm, one process (zlib 9)"
    sides = {
        workers: [*qvl, "--render-workers", n],
        one: [*qvl, "--render-workers", "0"],
        level6: [*qvl, "--render-workers", n, "--png-compression", "6"],
        level9: [*qvl, "--render-workers", n, "--png-compression", "9"],
        opencv: [*pypdfium2, "--engine", "numpy+cv2"],
        pillow: [*pypdfium2, "--engine", "pil"],
        bare_loop: [python, __file__, "--bare", pdf, "{out}"],
        pdftoppm: ["pdftoppm", "-png", "-scale-to-x", str(WIDTH), "-scale-to-y", str(HEIGHT), pdf, "{out}/page"],
    }  # fmt: skip
    if args.no_pdftoppm or not shutil.which("pdftoppm"):
        if not args.no_pdftoppm:
            print("pdftoppm not installed (apt-get install -y poppler-utils): left out")
        del sides[pdftoppm], sides[level9]  # qvl at level 9 is there to be compared with pdftoppm
    cases = []
    for number, (name, argv) in enumerate(sides.items()):
        folder = work / f"out{number}"
        command = [part.replace("{out}", str(folder)) for part in argv]
        cases.append(Case(name, run_command(command), " ".join(_shown(argv, pdf)), partial(_empty, folder)))
    sizes: dict[str, float] = {}
    for number, case in enumerate(cases):  # every side makes the same files before anything is timed
        _empty(work / f"out{number}")
        case.run()
        sizes[case.name] = check_sizes(work / f"out{number}", args.pages)
    print("PNG size a page: " + "; ".join(f"{name} {kib:.0f} KiB" for name, kib in sizes.items()))
    ratios = [
        Ratio("qvl one process / workers", one, workers, ">= 1.7"),
        Ratio("pypdfium2 CLI, OpenCV / qvl workers (zlib 1)", opencv, workers, ">= 1.5"),
        Ratio("pypdfium2 CLI, Pillow / qvl workers (zlib 6)", pillow, level6, ">= 1.5"),
        Ratio("bare loop / qvl one process (zlib 1)", bare_loop, one),
        Ratio("qvl workers, zlib 6 / zlib 1", level6, workers),
    ]
    if pdftoppm in sides:
        ratios.append(Ratio("pdftoppm / qvl workers (zlib 9)", pdftoppm, level9, ">= 2"))
    work_info = {"pages": args.pages, "size": f"{WIDTH}x{HEIGHT}", "format": "PNG", "processes": args.workers,
                 "png_kib_per_page": {name: round(kib, 1) for name, kib in sizes.items()}}  # fmt: skip
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
