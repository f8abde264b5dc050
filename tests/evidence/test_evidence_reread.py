"""A closer look: values that a page's OCR misread or missed are found when a small region is read
again at twice the resolution (real OCR on pages drawn with Pillow), only as exact matches, so a
value one digit away is still refused; the work is bounded and cached."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qvl_cli.evidence import reread
from qvl_cli.evidence.locate import locate
from qvl_cli.evidence.reread import (
    MAX_REGION_SHARE,
    MAX_REGIONS_PER_DOCUMENT,
    MAX_REGIONS_PER_PAGE,
    Region,
    RegionReader,
    fit,
    pick,
)
from qvl_cli.evidence.text import Box, Line, PageText

SIZE = (1000, 700)


def _scan(words: list[tuple[str, tuple[int, int]]]) -> tuple[Any, dict[str, Box]]:
    """A page image with ``words`` printed, and each one's box as fractions of the page."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    boxes = {}
    for text, position in words:
        draw.text(position, text, fill="black", font=font)
        x0, y0, x1, y1 = draw.textbbox(position, text, font=font)
        boxes[text] = (x0 / SIZE[0], y0 / SIZE[1], x1 / SIZE[0], y1 / SIZE[1])
    return image, boxes


def _line(text: str, box: Box) -> Line:
    """An OCR line as the page's OCR read it: ``text`` spread over ``box``."""
    step = (box[2] - box[0]) / len(text)
    return Line(text, tuple((box[0] + i * step, box[1], box[0] + (i + 1) * step, box[3]) for i in range(len(text))))


def _reader(image: Any, tmp_path: Path, draws: list[tuple[int, int]] | None = None) -> RegionReader:
    def draw(page: int, size: tuple[int, int]) -> Any:
        if draws is not None:
            draws.append(size)
        return image.resize(size)

    return RegionReader(draw, {1: SIZE}, str(tmp_path / "ocr"), "abc")


def test_a_value_the_page_ocr_misread_is_found_in_a_closer_look(tmp_path: Path) -> None:
    image, boxes = _scan([("Fax 910-335-7077", (100, 200)), ("Sender J. Smith", (100, 400))])
    # The page's OCR dropped a digit (as on a faint fax); the closer look reads the line again.
    page = PageText(
        1,
        "ocr",
        (_line("Fax 910-335-777", boxes["Fax 910-335-7077"]), _line("Sender J. Smith", boxes["Sender J. Smith"])),
    )
    data = {"fax": "910-335-7077", "fake": "910-335-7078", "total": 4417.5}
    assert locate(data, [page]).evidence["/fax"] is None
    draws: list[tuple[int, int]] = []
    located = locate(data, [page], reread=_reader(image, tmp_path, draws))
    fax = located.evidence["/fax"]
    assert fax is not None and fax["source"] == "ocr" and fax["score"] == 1.0
    x0, y0, x1, y1 = fax["boxes"][0]
    gold = boxes["Fax 910-335-7077"]
    assert gold[0] < x0 < x1 <= gold[2] + 0.01 and gold[1] - 0.02 < y0 < y1 < gold[3] + 0.02
    assert located.evidence["/fake"] is None and located.evidence["/total"] is None  # one digit away, never printed
    assert draws == [(2 * SIZE[0], 2 * SIZE[1])]  # the page drawn once, at twice its size
    # The regions' lines are cached with the page's OCR: a second run draws nothing.
    again = locate(data, [page], reread=_reader(image, tmp_path, draws))
    assert again.evidence["/fax"] == fax and len(draws) == 1


def test_a_value_the_page_ocr_missed_is_found_beside_its_key(tmp_path: Path) -> None:
    image, boxes = _scan([("Fax Number", (100, 200)), ("555-0199", (120, 245)), ("Date", (600, 500))])
    page = PageText(1, "ocr", (_line("Fax Number", boxes["Fax Number"]), _line("Date", boxes["Date"])))
    reader = _reader(image, tmp_path)
    found = locate({"fields": [{"key": "Fax Number", "value": "555-0199"}]}, [page], reread=reader)
    value = found.evidence["/fields/0/value"]
    assert value is not None and value["text"] == "555-0199"
    x0, y0, _, _ = value["boxes"][0]
    assert abs(x0 - boxes["555-0199"][0]) < 0.02 and abs(y0 - boxes["555-0199"][1]) < 0.02
    fake = locate({"fields": [{"key": "Fax Number", "value": "555-0198"}]}, [page], reread=reader)
    assert fake.evidence["/fields/0/value"] is None and fake.missing == (("/fields/0/value", "555-0198"),)


def test_text_layer_pages_and_values_found_are_never_read_again() -> None:
    calls: list[tuple[int, list[Box]]] = []

    def read(page: int, regions: list[Box]) -> tuple[Line, ...]:
        calls.append((page, regions))
        return ()

    text_page = PageText(1, "text", (_line("Invoice 910-335-777", (0.1, 0.1, 0.5, 0.13)),))
    assert locate({"number": "910-335-7077"}, [text_page], reread=read).evidence["/number"] is None
    ocr_page = PageText(1, "ocr", (_line("Invoice 910-335-7077", (0.1, 0.1, 0.5, 0.13)),))
    assert locate({"number": "910-335-7077"}, [ocr_page], reread=read).evidence["/number"] is not None
    assert calls == []


def test_regions_are_few_and_small() -> None:
    regions = [Region(90 - i, 1, (0.1 * (i % 9), 0.05 * i, 0.1 * (i % 9) + 0.08, 0.05 * i + 0.04)) for i in range(12)]
    regions.append(Region(95, 2, (0.0, 0.0, 1.0, 1.0)))
    chosen = pick(regions)
    assert len(chosen[1]) == MAX_REGIONS_PER_PAGE and chosen[1][0] == regions[0].box  # the most alike first
    (whole,) = chosen[2]
    area = (whole[2] - whole[0]) * (whole[3] - whole[1])
    assert area == pytest.approx(MAX_REGION_SHARE) and fit(whole) == whole
    inner = Region(80, 3, (0.2, 0.2, 0.3, 0.25))
    assert pick([Region(85, 3, (0.1, 0.1, 0.4, 0.4)), inner])[3] == [(0.1, 0.1, 0.4, 0.4)]  # read once


def test_a_document_has_few_regions_read_however_many_values_are_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model inventing values on a long scan costs at most MAX_REGIONS_PER_DOCUMENT readings."""
    read: list[tuple[float, ...]] = []
    monkeypatch.setattr(reread, "read_region", lambda image, box: read.append(box) or ())
    reader = RegionReader(lambda page, size: Image.new("RGB", size, "white"), dict.fromkeys(range(1, 6), SIZE))
    boxes = [(0.1, 0.1 * i, 0.3, 0.1 * i + 0.05) for i in range(MAX_REGIONS_PER_PAGE)]
    for page in range(1, 6):
        reader(page, boxes)
    assert len(read) == MAX_REGIONS_PER_DOCUMENT < 5 * MAX_REGIONS_PER_PAGE


def test_a_warm_cache_looks_at_the_same_regions_as_a_cold_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cached regions count against the document's limit too: a second run reads nothing new
    and finds what the first found, not 8 regions further."""
    read: list[tuple[float, ...]] = []
    monkeypatch.setattr(reread, "read_region", lambda image, box: read.append(box) or ())
    boxes = [(0.1, 0.1 * i, 0.3, 0.1 * i + 0.05) for i in range(MAX_REGIONS_PER_PAGE)]
    for _run in range(2):
        reader = RegionReader(
            lambda page, size: Image.new("RGB", size), dict.fromkeys(range(1, 6), SIZE), str(tmp_path), "d"
        )
        for page in range(1, 6):
            reader(page, boxes)
    assert len(read) == MAX_REGIONS_PER_DOCUMENT  # all in the first run


def test_a_region_that_cannot_be_drawn_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken(page: int, size: tuple[int, int]) -> Any:
        raise OSError("file gone")

    page = PageText(1, "ocr", (_line("Fax 910-335-777", (0.1, 0.28, 0.5, 0.33)),))
    located = locate({"fax": "910-335-7077"}, [page], reread=RegionReader(broken, {1: SIZE}, None, None))
    assert located.evidence["/fax"] is None
    assert "not read again: file gone" in caplog.text
    assert reread.region_engine() is reread.region_engine()  # one engine per process


def test_a_reader_that_returns_too_few_regions_leaves_the_value_not_found(caplog: pytest.LogCaptureFixture) -> None:
    def short(page: int, size: tuple[int, int], boxes: tuple[Box, ...]) -> tuple[tuple[Line, ...], ...]:
        return ()  # a worker's answer that lost its regions

    page = PageText(1, "ocr", (_line("Fax 910-335-777", (0.1, 0.28, 0.5, 0.33)),))
    reader = RegionReader(lambda page, size: Image.new("RGB", size), {1: SIZE}, None, None, read=short)
    located = locate({"fax": "910-335-7077"}, [page], reread=reader)
    assert located.evidence["/fax"] is None
    assert "not read again: 0 regions read of" in caplog.text


def test_building_the_region_engine_is_announced_as_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """A render worker stops its page clock while an OCR engine is built (about a second): the
    region engine is no exception."""
    from qvl_cli.evidence import ocr

    calls: list[str] = []
    monkeypatch.setattr(reread, "_ENGINE", None)
    monkeypatch.setattr(ocr, "_BUILD_NOTICE", (lambda: calls.append("before"), lambda: calls.append("after")))
    monkeypatch.setattr(ocr, "rapidocr", lambda **options: calls.append("build") or object())
    engine = reread.region_engine()
    assert calls == ["before", "build", "after"] and reread.region_engine() is engine


def test_extract_looks_again_at_scans_only(tmp_path: Path) -> None:
    """The reader ``qvl extract`` uses draws the page again from its file, at twice its size."""
    from types import SimpleNamespace

    from qvl_cli.evidence.grounding import region_reader
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.rasterize import render_document

    image, boxes = _scan([("Fax 910-335-7077", (100, 200))])
    path = tmp_path / "scan.png"
    image.save(path)
    document = render_document(path, PixelBudget())
    page = PageText(1, "ocr", (_line("Fax 910-335-777", boxes["Fax 910-335-7077"]),))
    options = SimpleNamespace(evidence="auto", password=None, dpi=144.0)
    assert region_reader(document, options, None) is None  # no page text read: evidence was off
    read = dataclasses.replace(document, text=(page,))
    for mode in ("text", "off"):
        assert region_reader(read, SimpleNamespace(evidence=mode, password=None, dpi=144.0), None) is None
    reader = region_reader(read, options, "abc")
    assert isinstance(reader, RegionReader) and reader.sizes == {1: document.pages[0].size}
    assert reader.draw(1, (2 * SIZE[0], 2 * SIZE[1])).size == (2 * SIZE[0], 2 * SIZE[1])
    fax = locate({"fax": "910-335-7077"}, [page], reread=reader).evidence["/fax"]
    assert fax is not None and fax["text"].endswith("910-335-7077")


def test_a_line_the_regions_edge_cuts_through_is_left_out() -> None:
    """A region's edge through "Willkommen" leaves "en" in the crop: a fragment, not print."""
    image, boxes = _scan([("Willkommen im Hafenmuseum", (100, 200))])
    big = image.resize((2 * SIZE[0], 2 * SIZE[1]))
    x0, y0, x1, y1 = boxes["Willkommen im Hafenmuseum"]
    whole = reread.read_region(big, (x0 - 0.05, y0 - 0.05, x1 + 0.05, y1 + 0.05))
    assert [line.text for line in whole] == ["Willkommen im Hafenmuseum"]
    cut = (x0 + 0.6 * (x1 - x0) * 10 / 25, y0 - 0.05, x1 + 0.05, y1 + 0.05)  # through "Willkommen"
    assert reread.read_region(big, cut) == ()


def test_page_images_given_in_memory_are_never_drawn_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages given as images have no file: a file named like them is not theirs to read."""
    from dataclasses import replace

    from qvl_cli.evidence.grounding import region_reader
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.memory import images_document
    from qvl_cli.pages.windows import WindowSettings
    from qvl_cli.pages.workers import plan_document
    from qvl_cli.runs.document import ExtractOptions

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (64, 64), "red").save(tmp_path / "scan.png")
    pages, sha256 = images_document([Image.new("RGB", (640, 480), "white")], "scan.png")
    windows = plan_document(pages, PixelBudget(), WindowSettings())
    document = replace(pages.rendered(0, windows[0].plan), text=())
    assert region_reader(document, ExtractOptions(evidence="auto"), sha256) is None
