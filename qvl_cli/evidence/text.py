"""Page text with positions: lines of characters, each with its box on the page as rendered.

Boxes are fractions of the page image qvl renders (origin top left, x right, y down), after the
PDF's /Rotate and crop box or an image's EXIF orientation, so they hold at any pixel size. Text
comes from a PDF's own text layer here; :mod:`qvl_cli.evidence.ocr` gives the same shape for scans.
Everything is plain frozen data, so it can be pickled to and from worker processes and cached.
"""

from __future__ import annotations

from collections.abc import Callable
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
    page = pdf[index]
    textpage = page.get_textpage()
    try:
        grouped = _group_lines(_page_chars(textpage))
        device = _device_mapping(page)
        return tuple(
            Line(text, _fill_spaces([device(box) if box else None for box in boxes])) for text, boxes in grouped
        )
    finally:
        textpage.close()
        page.close()


def _page_chars(textpage: Any) -> list[tuple[str, Box | None]]:
    """Each character of a text page, with its box in page space, y down (``None`` for a space
    or a character that prints nothing)."""
    import ctypes

    import pypdfium2.raw as pdfium_c
    from pypdfium2 import PdfiumError

    left, right, bottom, top = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    out = (ctypes.byref(left), ctypes.byref(right), ctypes.byref(bottom), ctypes.byref(top))
    unicode, char_box = pdfium_c.FPDFText_GetUnicode, pdfium_c.FPDFText_GetCharBox
    chars: list[tuple[str, Box | None]] = []
    for i in range(textpage.count_chars()):
        char = chr(unicode(textpage, i))
        if not char_box(textpage, i, *out):
            raise PdfiumError("Failed to get charbox.")
        x0, y0, x1, y1 = left.value, bottom.value, right.value, top.value
        visible = not char.isspace() and (x1 > x0 or y1 > y0)
        chars.append((char, (x0, -y1, x1, -y0) if visible else None))
    return chars


def _device_mapping(page: Any) -> Callable[[Box], Box]:
    """Boxes in page space (y down) to fractions of the rendered page, through PDFium's own
    page-to-device mapping (rotation and crop box included)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    dx, dy = ctypes.c_int(), ctypes.c_int()
    x_out, y_out = ctypes.byref(dx), ctypes.byref(dy)
    to_device = pdfium_c.FPDF_PageToDevice

    def mapped(box: Box) -> Box:
        left, top, right, bottom = box[0], -box[1], box[2], -box[3]
        to_device(page, 0, 0, _GRID, _GRID, 0, left, bottom, x_out, y_out)
        x0, y0 = dx.value / _GRID, dy.value / _GRID
        to_device(page, 0, 0, _GRID, _GRID, 0, right, top, x_out, y_out)
        x1, y1 = dx.value / _GRID, dy.value / _GRID
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    return mapped


def _group_lines(chars: list[tuple[str, Box | None]]) -> list[tuple[str, list[Box | None]]]:
    lines: list[tuple[str, list[Box | None]]] = []
    text: list[str] = []
    boxes: list[Box | None] = []
    band: tuple[float, float] | None = None  # the current line's top and bottom so far
    previous: Box | None = None  # its last character's box

    def flush() -> None:
        nonlocal band, previous
        while text and text[-1].isspace():
            text.pop()
            boxes.pop()
        if band is not None:
            lines.append(("".join(text), list(boxes)))
        text.clear()
        boxes.clear()
        band = previous = None

    for ch, box in chars:
        if ch in "\r\n\x02\x03":
            flush()
            continue
        if box is not None and band is not None and previous is not None and _breaks_line(band, previous, box):
            flush()
        if not text and ch.isspace():
            continue
        text.append(" " if ch.isspace() else ch)
        boxes.append(box)
        if box is not None:
            band = (box[1], box[3]) if band is None else (min(band[0], box[1]), max(band[1], box[3]))
            previous = box
    flush()
    return lines


def _breaks_line(band: tuple[float, float], previous: Box, box: Box) -> bool:
    """A new line starts where the text leaves the current line's band (its top and bottom so
    far; ``previous``: its last character), jumps back, or leaves a wide gap (a table cell beside)."""
    top, bottom = band
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
