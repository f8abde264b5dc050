"""Page text with positions: lines of characters, each with its box on the page as rendered.

Boxes are fractions of the page image qvl renders (origin top left, x right, y down), after the
PDF's /Rotate and crop box or an image's EXIF orientation, so they hold at any pixel size. Text
comes from a PDF's own text layer here; :mod:`qvl_cli.evidence.ocr` gives the same shape for scans.
Everything is plain frozen data, so it can be pickled to and from worker processes and cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the page
# Device grid for PDFium's page-to-device mapping: fine enough for 1/10000 of a page.
_GRID = 10000
# A page with a text layer is read with OCR as well when an image covers this share of it (text
# in a pasted picture or a scanned letterhead), unless the image is the whole page (at least
# FULL_PAGE_IMAGE) and the text layer holds at least MIN_TEXT_LAYER_CHARS letters and digits: a
# searchable scan, whose text layer is its OCR already.
MIN_IMAGE_SHARE = 0.05
FULL_PAGE_IMAGE = 0.9
MIN_TEXT_LAYER_CHARS = 20


@dataclass(frozen=True)
class Line:
    """One printed line: its text and one box per character (spaces included)."""

    text: str
    chars: tuple[Box, ...]
    source: str = ""  # where the line came from when not the page's source ("ocr" on a text page)

    @property
    def box(self) -> Box:
        return union(self.chars)


@dataclass(frozen=True)
class PageText:
    """The text of one page; ``source`` is "text" (the PDF's text layer), "ocr" or "none"."""

    page: int  # 1-based page number in the document
    source: str
    lines: tuple[Line, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "source": self.source,
            "lines": [
                {"text": line.text, "chars": [list(box) for box in line.chars], "source": line.source}
                for line in self.lines
            ],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PageText:
        lines = tuple(
            Line(str(line["text"]), tuple((b[0], b[1], b[2], b[3]) for b in line["chars"]), line.get("source", ""))
            for line in raw["lines"]
        )
        return cls(int(raw["page"]), str(raw["source"]), lines)


def union(boxes: tuple[Box, ...] | list[Box]) -> Box:
    """The smallest box holding all ``boxes`` (zero-width space boxes included)."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def has_usable_text(lines: tuple[Line, ...]) -> bool:
    return sum(ch.isalnum() for line in lines for ch in line.text) >= MIN_TEXT_LAYER_CHARS


def with_ocr_lines(page: PageText, ocr: PageText) -> PageText:
    """A text-layer page with the OCR lines that no text-layer line covers (text in images)."""
    boxes = [line.box for line in page.lines]
    extra = tuple(
        Line(line.text, line.chars, "ocr")
        for line in ocr.lines
        if not any(_shared(line.box, box) > 0.3 * _area(line.box) for box in boxes)
    )
    return PageText(page.page, page.source, page.lines + extra) if extra else page


def _shared(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _area(box: Box) -> float:
    return max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)


def largest_image_share(pdf: Any, index: int) -> float:
    """The page area share of the largest image on a PDF page (0 when it has none)."""
    import pypdfium2.raw as pdfium_c

    page = pdf[index]
    try:
        width, height = page.get_size()
        shares = [0.0]
        for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4):
            left, bottom, right, top = image.get_bounds()
            shares.append((right - left) * (top - bottom) / max(width * height, 1e-9))
        return max(shares)
    finally:
        page.close()


def pdf_page_lines(pdf: Any, index: int) -> tuple[Line, ...]:
    """The lines of a PDF page's text layer (``pdf``: an open ``pypdfium2.PdfDocument``).

    Characters come in content order; a line ends at a line break PDFium reports, where the text
    jumps back or to another baseline, or at a gap wider than three line heights (table cells).
    Lines are found in the page's own coordinates (so a page turned by /Rotate reads the same);
    each character's box is then mapped onto the page as rendered.
    """
    import pypdfium2.raw as pdfium_c

    page = pdf[index]
    textpage = page.get_textpage()
    try:
        chars = []
        for i in range(textpage.count_chars()):
            char = chr(pdfium_c.FPDFText_GetUnicode(textpage, i))
            left, bottom, right, top = textpage.get_charbox(i)
            visible = not char.isspace() and (right > left or top > bottom)
            chars.append((char, (left, -top, right, -bottom) if visible else None))
        grouped = _group_lines(chars)
        return tuple(
            Line(text, _fill_spaces([_device_box(page, box) if box else None for box in boxes]))
            for text, boxes in grouped
        )
    finally:
        textpage.close()
        page.close()


def _device_box(page: Any, box: Box) -> Box:
    """A box in page space (y down) in fractions of the rendered page, through PDFium's own
    page-to-device mapping (rotation and crop box included)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    left, top, right, bottom = box[0], -box[1], box[2], -box[3]
    xs, ys = [], []
    for px, py in ((left, bottom), (right, top)):
        dx, dy = ctypes.c_int(), ctypes.c_int()
        pdfium_c.FPDF_PageToDevice(page, 0, 0, _GRID, _GRID, 0, px, py, ctypes.byref(dx), ctypes.byref(dy))
        xs.append(dx.value / _GRID)
        ys.append(dy.value / _GRID)
    return (min(xs), min(ys), max(xs), max(ys))


def _group_lines(chars: list[tuple[str, Box | None]]) -> list[tuple[str, list[Box | None]]]:
    lines: list[tuple[str, list[Box | None]]] = []
    text: list[str] = []
    boxes: list[Box | None] = []

    def flush() -> None:
        while text and text[-1].isspace():
            text.pop()
            boxes.pop()
        if any(box is not None for box in boxes):
            lines.append(("".join(text), list(boxes)))
        text.clear()
        boxes.clear()

    for ch, box in chars:
        if ch in "\r\n\x02\x03":
            flush()
            continue
        if box is not None and _breaks_line(boxes, box):
            flush()
        if not text and ch.isspace():
            continue
        text.append(" " if ch.isspace() else ch)
        boxes.append(box)
    flush()
    return lines


def _breaks_line(boxes: list[Box | None], box: Box) -> bool:
    """A new line starts where the text leaves the current line's band, jumps back, or leaves a
    wide gap (a table cell beside)."""
    placed = [b for b in boxes if b is not None]
    if not placed:
        return False
    previous = placed[-1]
    top, bottom = min(b[1] for b in placed), max(b[3] for b in placed)
    height = max(bottom - top, box[3] - box[1], 1e-6)
    middle = (box[1] + box[3]) / 2
    off_band = not top - 0.2 * height <= middle <= bottom + 0.2 * height
    jumps_back = box[0] < previous[0] - 0.5 * height
    wide_gap = box[0] - previous[2] > 3 * height
    return off_band or jumps_back or wide_gap


def _fill_spaces(boxes: list[Box | None]) -> tuple[Box, ...]:
    """Give spaces a zero-width box at the end of the character before them."""
    filled: list[Box] = []
    for box in boxes:
        if box is None:
            last = filled[-1] if filled else next(b for b in boxes if b is not None)
            box = (last[2], last[1], last[2], last[3])
        filled.append(box)
    return tuple(filled)
