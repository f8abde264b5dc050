"""Read the text of a document's rendered pages: the PDF text layer where a page has one, OCR
where it has none (scans, images), as the evidence mode says.

``read_text`` takes and returns plain, picklable data, so it runs wherever pages are rendered (a
worker thread or process), overlapping model time. OCR results are cached by file content, page
and image size, so a second run over the same document does not OCR again.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qvl_cli.evidence.text import (
    FULL_PAGE_IMAGE,
    MIN_IMAGE_SHARE,
    PageText,
    has_usable_text,
    largest_image_share,
    pdf_page_lines,
    with_ocr_lines,
)
from qvl_cli.evidence.unsearched import NO_TEXT

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from PIL import Image

    from qvl_cli.evidence.ocr import LazyImage
    from qvl_cli.pages.rasterize import DocumentPages, RenderedDocument

MODES = ("auto", "text", "ocr", "off")
STREAM_CHUNK = 4  # pages whose text is read together when a long document is read page by page


@dataclass(frozen=True)
class TextOptions:
    """How page text is read: ``mode`` (auto | text | ocr | off) and where OCR is cached."""

    mode: str = "auto"
    cache_dir: str | None = None
    later: bool = False  # a page needing OCR not in the cache comes back PENDING (see evidence.later)


PENDING = "pending"  # the source of a page whose OCR is left for a later task


def read_text(
    path: str,
    is_pdf: bool,
    pages: Sequence[tuple[int, Image.Image | LazyImage]],
    options: TextOptions,
    password: str | None = None,
    sha256: str | None = None,
) -> tuple[PageText, ...]:
    """The text of ``pages`` (0-based index and rendered image each) of the document at ``path``."""
    if options.mode == "off":
        return ()
    layers: dict[int, tuple[PageText, float]] = {}
    if is_pdf and options.mode in ("auto", "text"):
        layers = _text_layers(path, [index for index, _ in pages], password)
    texts = []
    for index, image in pages:
        layer, image_share = layers.get(index, (None, 0.0))
        if options.mode == "text":
            texts.append(
                layer if layer is not None and not _scanned(layer, image_share) else PageText(index + 1, NO_TEXT)
            )
        elif options.mode == "ocr" or layer is None or not layer.lines:
            texts.append(_ocr(image, index, sha256, options))
        elif needs_ocr_too(layer, image_share):
            ocr = _ocr(image, index, sha256, options)
            texts.append(ocr if ocr.source == PENDING else with_ocr_lines(layer, ocr))
        else:
            texts.append(layer)
    return tuple(texts)


def pack_text(page: PageText) -> bytes:
    """A page's text as compact bytes (a twentieth of the memory its objects take, for a page of
    printed text), to send between processes and to keep."""
    return zlib.compress(pickle.dumps(page, protocol=pickle.HIGHEST_PROTOCOL), 1)


def unpack_text(record: bytes) -> PageText:
    """The page text :func:`pack_text` packed (unpickled: only for bytes this run made itself)."""
    page: PageText = pickle.loads(zlib.decompress(record))
    return page


def _scanned(layer: PageText, image_share: float) -> bool:
    """A page whose text layer is empty but which shows a picture: a scan, with nothing to search
    (an empty page without a picture has nothing printed to find)."""
    return not layer.lines and image_share >= MIN_IMAGE_SHARE


def needs_ocr_too(layer: PageText, image_share: float) -> bool:
    """A text page is also read with OCR when a large image may print text of its own (a
    scanned letterhead, a stamp on a scan), unless the image is the whole page and the text layer
    is its OCR already (a searchable scan)."""
    if image_share < MIN_IMAGE_SHARE:
        return False
    return not has_usable_text(layer.lines) or image_share < FULL_PAGE_IMAGE


def document_text(
    document: RenderedDocument, options: TextOptions, password: str | None = None, sha256: str | None = None
) -> tuple[PageText, ...]:
    """:func:`read_text` for a rendered document."""
    pages = [(page.number - 1, page.image) for page in document.pages]
    return read_text(str(document.source.path), document.source.is_pdf, pages, options, password, sha256)


def streamed_text(
    document: DocumentPages,
    sizes: Mapping[int, tuple[int, int]],
    options: TextOptions,
    sha256: str | None = None,
    chunk: int = STREAM_CHUNK,
) -> Iterator[PageText]:
    """:func:`read_text` for the selected pages of a measured document, ``chunk`` pages at a time:
    text layers are read through PDFium without images, and a page that needs OCR is drawn again
    (at ``sizes[number]``, as it was sent to the model) only when its OCR is not cached. Memory
    holds one chunk's text, however long the document."""
    from qvl_cli.evidence.ocr import LazyImage

    def draw(position: int, size: tuple[int, int]) -> Callable[[], Image.Image]:
        return lambda: next(iter(list(document.render([position], [size])))).image

    path, is_pdf = str(document.source.path), document.source.is_pdf
    for start in range(0, len(document.numbers), chunk):
        pages: list[tuple[int, Image.Image | LazyImage]] = []
        for position in range(start, min(start + chunk, len(document.numbers))):
            number = document.numbers[position]
            size = sizes[number]
            pages.append((number - 1, LazyImage(size, draw(position, size))))
        yield from read_text(path, is_pdf, pages, options, document.password, sha256)


def _text_layers(path: str, indices: list[int], password: str | None) -> dict[int, tuple[PageText, float]]:
    """Each page's text layer and the share of the page its largest image covers."""
    import pypdfium2 as pdfium

    from qvl_cli.pages.rasterize import PDFIUM_LOCK

    layers = {}
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(path, password=password)
        try:
            for index in indices:
                with suppress(pdfium.PdfiumError):
                    lines = pdf_page_lines(pdf, index)
                    layers[index] = (PageText(index + 1, "text", lines), largest_image_share(pdf, index))
        finally:
            pdf.close()
    return layers


def _ocr(image: Image.Image | LazyImage, index: int, sha256: str | None, options: TextOptions) -> PageText:
    """The page's OCR (from the cache, or read now); with ``options.later``, a page not in the
    cache comes back ``PENDING`` (read again, whole, by a later task with the same options)."""
    from qvl_cli.evidence.ocr import cached_ocr, ocr_page

    key = f"{sha256}:{index}" if sha256 else None
    cache_dir = Path(options.cache_dir) if options.cache_dir else None
    if options.later and cached_ocr(image.size, index + 1, cache_dir, key) is None:
        return PageText(index + 1, PENDING)
    return ocr_page(image, index + 1, cache_dir, key)
