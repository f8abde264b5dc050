"""The Python API's render workers, as the README describes them: started with the first document,
stopped by ``close()``, a ``with`` block or ``extract()``, and never sent pages given as images."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from render_helpers import alive, descendants, short_pdf

from qvl_cli import Extractor, extract

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc (Linux)")


def started_since(before: set[int]) -> set[int]:
    """Processes below this one that were not there ``before`` and still run."""
    return {pid for pid in descendants(os.getpid()) - before if alive(pid)}


def all_gone(pids: set[int]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    return not any(alive(pid) for pid in pids)


def test_workers_start_with_the_first_document_and_close_stops_them(tmp_path: Path) -> None:
    pdf = short_pdf(tmp_path / "a.pdf", "a")
    before = descendants(os.getpid())
    extractor = Extractor("form", backend="fake", render_workers=2, evidence="off", cache=False)
    try:
        assert started_since(before) == set()  # none yet
        assert extractor.extract(pdf).error is None
        workers = started_since(before)
        assert 1 <= len(workers) <= 2
        extractor.close()
        assert all_gone(workers)
        assert extractor.extract(pdf).error is None  # a later document starts new ones
        again = started_since(before)
        assert again and not again & workers
    finally:
        extractor.close()
    assert all_gone(again)


def test_a_with_block_and_extract_stop_their_workers(tmp_path: Path) -> None:
    pdf = short_pdf(tmp_path / "a.pdf", "a")
    before = descendants(os.getpid())
    with Extractor("form", backend="fake", render_workers=2, evidence="off", cache=False) as extractor:
        [envelope] = extractor.extract_many([pdf])
        workers = started_since(before)
        assert envelope.error is None and workers
    assert all_gone(workers)
    assert extract(pdf, "form", backend="fake", render_workers=2, evidence="off", cache=False).error is None
    assert started_since(before) == set()


def test_pages_given_as_images_are_never_sent_to_the_workers() -> None:
    """One image (its evidence read with OCR), and many read in windows: no worker starts."""
    page = Image.new("RGB", (600, 400), "white")
    ImageDraw.Draw(page).text((40, 40), "Total 12.50", fill="black")
    before = descendants(os.getpid())
    windows = {"window_pages": 2, "window_overlap": 0}
    with Extractor("form", backend="fake", render_workers=2, cache=False, **windows) as extractor:
        one = extractor.extract([page], name="scan")
        assert one.error is None and one.evidence is not None  # read with OCR, in this process
        many = extractor.extract([page] * 4, name="pile")
        assert many.error is None and len(many.to_dict()["windows"]) > 1
        assert started_since(before) == set()
