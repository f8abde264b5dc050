"""A rendering process keeps its freed page buffers: the next page does not fault them in again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pdf_factory import PageSpec, write_pdf

from qvl_cli.pages import heap
from qvl_cli.pages.pool import open_renderer

# Renders and encodes pages as a render worker does, in a fresh process; prints the page faults
# of the pages after the first.
RENDER = """
import resource, sys
from qvl_cli.pages.heap import keep_freed_pages
from qvl_cli.pages.inputs import open_source
from qvl_cli.pages.png import encode_png
from qvl_cli.pages.rasterize import open_pages

if sys.argv[2] == "keep":
    assert keep_freed_pages()
with open_pages(open_source(sys.argv[1])) as pages:
    encode_png(pages.render(0, (840, 1176)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for index in range(1, 8):
        encode_png(pages.render(index, (840, 1176)))
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


GLIBC = pytest.mark.skipif(heap.glibc_mallopt() is None, reason="malloc is not glibc's here: there is nothing to set")
# qvl render with one worker on 60 pages; prints the page faults of the worker processes.
WORKER = """
import resource, sys
sys.argv = ["qvl", "render", sys.argv[1], "--out", sys.argv[2], "--render-workers", "1", "--max-total-pixels", "0"]
from qvl_cli.launch import main
try:
    main()
except SystemExit:
    pass
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt, file=sys.stderr)
"""


def page_faults(pdf: Path, mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", RENDER, str(pdf), mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@GLIBC
def test_pages_after_the_first_reuse_the_memory_of_the_pages_before(tmp_path: Path) -> None:
    lines = tuple(f"Line {i}: 2 x Widget at 12.50 EUR" for i in range(40))
    pdf = write_pdf(tmp_path / "a4.pdf", [PageSpec(595, 842, lines=lines)] * 8)
    kept, default = page_faults(pdf, "keep"), page_faults(pdf, "default")
    pages_of_one_bitmap = 840 * 1176 * 3 // 4096  # 723
    assert default > 7 * pages_of_one_bitmap  # glibc hands the buffers back after every page
    assert kept < pages_of_one_bitmap  # all 7 pages together fault in less than one bitmap


@GLIBC
def test_a_render_worker_keeps_its_freed_page_buffers(tmp_path: Path) -> None:
    """60 pages cost a worker about 400 page faults each without it (24,000 in all), besides
    the 10,000 or so of its start-up."""
    lines = tuple(f"Line {i}: 2 x Widget at 12.50 EUR" for i in range(40))
    pdf = write_pdf(tmp_path / "a4.pdf", [PageSpec(595, 842, lines=lines)] * 60)
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(pdf), str(tmp_path / "out")], capture_output=True, text=True
    )
    assert len(list((tmp_path / "out").glob("*.png"))) == 60
    assert int(done.stderr.split()[-1]) < 20_000


def test_rendering_in_this_process_keeps_freed_page_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[None] = []
    monkeypatch.setattr(heap, "keep_freed_pages", lambda: calls.append(None))
    open_renderer(0)
    assert calls == [None]
