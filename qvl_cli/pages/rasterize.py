"""Rasterize documents into page images sized by the pixel budgets.

PDF pages are rendered by PDFium directly at the scale that lands on the budgeted size, so a
200-inch page never allocates more than the budget allows. Images are decoded (reduced on load
where the format supports it), oriented by EXIF, converted to RGB and resized once.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from qvl_cli.errors import EncryptedDocumentError, InputError, PageSelectionError
from qvl_cli.pages.budgets import PagePlan, PixelBudget, plan_pages, visual_tokens
from qvl_cli.pages.images import WHITE, to_rgb
from qvl_cli.pages.inputs import SourceFile, open_source, parse_page_ranges

if TYPE_CHECKING:
    from pathlib import Path

    from PIL import Image

    from qvl_cli.evidence.text import PageText

DEFAULT_PDF_DPI = 200.0
POINTS_PER_INCH = 72.0
# PDFium is not thread-safe: one PDF is opened and rendered at a time in a process.
PDFIUM_LOCK = threading.Lock()


@dataclass(frozen=True)
class PageImage:
    """One page as the model sees it."""

    number: int  # 1-based page number in the source document
    source_size: tuple[int, int]  # native (width, height): pixels, or PDF points at the render DPI
    image: Image.Image
    text_chars: int = 0  # characters in the page's text layer (PDFs): a blank render with text is a font problem
    extras: dict[str, Any] = field(default_factory=dict)  # per-page results made where it was rendered

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def visual_tokens(self) -> int:
        return visual_tokens(*self.image.size)

    def describe(self) -> dict[str, object]:
        return {
            "page": self.number,
            "source_size": list(self.source_size),
            "size": list(self.size),
            "visual_tokens": self.visual_tokens,
        }


@dataclass(frozen=True)
class RenderedDocument:
    """The selected pages of one document and the plan that sized them."""

    source: SourceFile
    page_count: int
    pages: tuple[PageImage, ...]
    plan: PagePlan
    text: tuple[PageText, ...] | None = None  # read where the pages were rendered; None: evidence off
    # The whole text once OCR still running in a render worker is done (see qvl_cli.evidence.later).
    text_later: Callable[[], tuple[PageText, ...]] | None = field(default=None, repr=False, compare=False)


class PageSource(Protocol):
    """A document whose pages can be measured cheaply and rendered at a chosen size."""

    page_count: int

    def native_size(self, index: int) -> tuple[float, float]: ...

    def render(self, index: int, size: tuple[int, int]) -> Image.Image: ...

    def text_chars(self, index: int) -> int: ...


class PdfPages:
    """PDF pages through PDFium; sizes honour /Rotate and the crop box."""

    def __init__(self, source: SourceFile, password: str | None, dpi: float):
        import pypdfium2 as pdfium

        self._scale = dpi / POINTS_PER_INCH
        self._path = source.path
        try:
            self._pdf = pdfium.PdfDocument(str(source.path), password=password)
        except pdfium.PdfiumError as exc:
            raise _pdf_open_error(source.path, str(exc), password) from None
        self.page_count = len(self._pdf)

    def _page(self, index: int) -> Any:
        import pypdfium2 as pdfium

        try:
            return self._pdf[index]
        except pdfium.PdfiumError:
            raise InputError(f"cannot load page {index + 1}: the PDF is damaged", path=self._path) from None

    def native_size(self, index: int) -> tuple[float, float]:
        """The page's size after /Rotate and the crop box, read without loading the page (a
        40th of the time: its content is parsed only when it is rendered)."""
        import pypdfium2 as pdfium

        try:
            width, height = self._pdf.get_page_size(index)
        except pdfium.PdfiumError:
            raise InputError(f"cannot load page {index + 1}: the PDF is damaged", path=self._path) from None
        return width * self._scale, height * self._scale

    def render(self, index: int, size: tuple[int, int]) -> Image.Image:
        """Draw the page straight into a bitmap of exactly ``size`` (PDFium scales each axis)."""
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_c

        page = self._page(index)
        try:
            bitmap = pdfium.PdfBitmap.new_native(*size, pdfium_c.FPDFBitmap_BGR, rev_byteorder=True)
            bitmap.fill_rect(WHITE + (255,), 0, 0, *size)
            flags = pdfium_c.FPDF_ANNOT | pdfium_c.FPDF_REVERSE_BYTE_ORDER
            pdfium_c.FPDF_RenderPageBitmap(bitmap, page, 0, 0, *size, 0, flags)
            image: Image.Image = bitmap.to_pil()
            return image.convert("RGB")
        except (MemoryError, pdfium.PdfiumError) as exc:
            raise InputError(f"cannot render page {index + 1}: {exc or 'out of memory'}", path=self._path) from None

    def text_chars(self, index: int) -> int:
        """How many characters the page's text layer holds (0 when it cannot be read)."""
        import pypdfium2 as pdfium

        try:
            text = self._page(index).get_textpage()
            try:
                return int(text.count_chars())
            finally:
                text.close()
        except (pdfium.PdfiumError, InputError):
            return 0

    def close(self) -> None:
        self._pdf.close()


def _pdf_open_error(path: Path, detail: str, password: str | None) -> InputError:
    if "password" in detail.lower():
        if password:
            return EncryptedDocumentError("wrong password for encrypted PDF", path=path)
        return EncryptedDocumentError("PDF is encrypted", path=path, hint="pass --password or set QVL_PDF_PASSWORD")
    if _declares_no_pages(path):  # PDFium refuses to open a document without pages
        return InputError("PDF has no pages", path=path)
    return InputError("cannot open PDF: the file is damaged or not a PDF", path=path)


def _declares_no_pages(path: Path) -> bool:
    """A page tree with ``/Count 0`` and not a single page object."""
    import re

    try:
        data = path.read_bytes()
    except OSError:
        return False
    return (
        re.search(rb"/Count\s*0(?![0-9])", data) is not None
        and re.search(rb"/Type\s*/Page(?![s0-9A-Za-z])", data) is None
    )


class ImagePages:
    """Raster images through Pillow; every frame of a multi-page TIFF is a page."""

    def __init__(self, source: SourceFile):
        from PIL import Image, UnidentifiedImageError

        try:
            with warnings.catch_warnings():
                # Between Pillow's limit and twice it Pillow only warns; such images still fit the
                # memory bound (JPEGs are even decoded reduced), so they are processed.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                self._image = Image.open(source.path)
            frames = getattr(self._image, "n_frames", 1) if source.kind == "tiff" else 1
        except Image.DecompressionBombError:
            raise _too_large(source) from None
        except UnidentifiedImageError:
            raise InputError(
                f"cannot decode {source.kind.upper()} image: the file is damaged or truncated", path=source.path
            ) from None
        except Exception as exc:  # Pillow raises many types (TypeError, KeyError, ...) on hostile files
            raise _decode_error(source, exc) from None
        self._source = source
        self.page_count = frames

    def native_size(self, index: int) -> tuple[float, float]:
        self._image.seek(index)
        width, height = self._image.size
        if _exif_orientation(self._image) in (5, 6, 7, 8):
            width, height = height, width
        return float(width), float(height)

    def render(self, index: int, size: tuple[int, int]) -> Image.Image:
        from PIL import Image, ImageOps

        self._image.seek(index)
        frame = self._image
        with _decode_errors(self._source):
            if frame.format == "JPEG":
                rotated = _exif_orientation(frame) in (5, 6, 7, 8)
                frame.draft("RGB", (size[1], size[0]) if rotated else size)
            frame.load()
            oriented = ImageOps.exif_transpose(frame) or frame
            rgb = to_rgb(oriented)
        if rgb.size == size:
            return rgb
        resized = rgb.resize(size, Image.Resampling.BICUBIC)
        if dpi := rgb.info.get("dpi"):  # the same paper at the new size: dots per inch scale with it
            resized.info["dpi"] = (dpi[0] * size[0] / rgb.width, dpi[1] * size[1] / rgb.height)
        return resized

    def text_chars(self, index: int) -> int:
        return 0  # images have no text layer

    def close(self) -> None:
        self._image.close()


def _exif_orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except (ValueError, TypeError, OSError, SyntaxError):
        return 1


def _too_large(source: SourceFile) -> InputError:
    return InputError(
        "image is too large to decode safely (over Pillow's pixel limit)",
        path=source.path,
        hint="downscale it before extraction",
    )


@contextmanager
def _decode_errors(source: SourceFile) -> Iterator[None]:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except Image.DecompressionBombError:
        raise _too_large(source) from None
    except MemoryError:
        raise InputError("not enough memory to decode this image", path=source.path) from None
    except Exception as exc:  # Pillow raises many types (TypeError, KeyError, ...) on hostile files
        raise _decode_error(source, exc) from None


def _decode_error(source: SourceFile, exc: Exception) -> InputError:
    detail = str(exc) or type(exc).__name__
    return InputError(f"cannot decode {source.kind.upper()} image: {detail}", path=source.path)


@contextmanager
def open_pages(source: SourceFile, password: str | None = None, dpi: float = DEFAULT_PDF_DPI) -> Iterator[PageSource]:
    """Open a document's pages for measuring and rendering; closes them afterwards."""
    pages: PdfPages | ImagePages = PdfPages(source, password, dpi) if source.is_pdf else ImagePages(source)
    try:
        if pages.page_count == 0:
            raise InputError("document has no pages", path=source.path)
        yield pages
    finally:
        pages.close()


def probe_document(
    path: str | Path, password: str | None = None, limits: InputLimits | None = None, dpi: float = DEFAULT_PDF_DPI
) -> bool:
    """Check that ``path`` opens (with ``password``) and has pages, without rendering anything.

    Raises :class:`InputError` as :func:`render_document` would; returns True when the document
    is password-protected (a PDF that does not open without a password), whose results must not
    be handed out to anyone who lacks it.
    """
    source = open_source(path)
    (limits or InputLimits()).enforce_on_file(source)
    if not source.is_pdf:
        return False
    with PDFIUM_LOCK, open_pages(source, password, dpi):
        pass
    if not password:
        return False
    try:
        with PDFIUM_LOCK, open_pages(source, None, dpi):
            return False
    except EncryptedDocumentError:
        return True
    except InputError:
        return False


@dataclass(frozen=True)
class InputLimits:
    """Refuse documents beyond these sizes (``None``: no limit)."""

    max_pages: int | None = None
    max_file_size: int | None = None  # bytes

    def enforce_on_file(self, source: SourceFile) -> None:
        if self.max_file_size is not None and source.size_bytes > self.max_file_size:
            raise InputError(
                f"file is {_mib(source.size_bytes)}, more than --max-file-size {_mib(self.max_file_size)}",
                path=source.path,
                hint="raise --max-file-size to process it",
            )

    def enforce_on_pages(self, source: SourceFile, selected: int) -> None:
        if self.max_pages is not None and selected > self.max_pages:
            raise PageSelectionError(
                f"{selected} pages selected, more than --max-pages {self.max_pages}",
                path=source.path,
                hint="select pages with --pages or raise --max-pages",
            )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


@dataclass(frozen=True)
class DocumentPages:
    """The selected pages of one document, measured but not rendered: pages are rendered on demand."""

    source: SourceFile
    page_count: int
    numbers: tuple[int, ...]  # 1-based numbers of the selected pages
    native_sizes: tuple[tuple[float, float], ...]
    password: str | None = field(default=None, repr=False)
    dpi: float = DEFAULT_PDF_DPI

    def render(self, positions: Sequence[int], sizes: Sequence[tuple[int, int]]) -> Iterator[PageImage]:
        """Render the pages at these positions of the selection, one at a time, at these sizes."""
        lock = PDFIUM_LOCK if self.source.is_pdf else nullcontext()
        with lock, open_pages(self.source, self.password, self.dpi) as pages:
            for position, size in zip(positions, sizes, strict=True):
                w, h = self.native_sizes[position]
                index = self.numbers[position] - 1
                yield PageImage(
                    self.numbers[position], (round(w), round(h)), pages.render(index, size), pages.text_chars(index)
                )

    def rendered(self, start: int, plan: PagePlan) -> RenderedDocument:
        """The pages ``start``.. sized by ``plan``, rendered now."""
        positions = range(start, start + len(plan.sizes))
        return RenderedDocument(self.source, self.page_count, tuple(self.render(positions, plan.sizes)), plan)


def measure_document(
    path: str | Path,
    page_spec: str | None = None,
    password: str | None = None,
    dpi: float = DEFAULT_PDF_DPI,
    limits: InputLimits | None = None,
) -> DocumentPages:
    """Open ``path``, select pages and measure them; nothing is rendered."""
    limits = limits or InputLimits()
    source = open_source(path)
    limits.enforce_on_file(source)
    with PDFIUM_LOCK if source.is_pdf else nullcontext(), open_pages(source, password, dpi) as pages:
        indices = parse_page_ranges(page_spec, pages.page_count)
        limits.enforce_on_pages(source, len(indices))
        native = tuple(pages.native_size(i) for i in indices)
    return DocumentPages(source, pages.page_count, tuple(i + 1 for i in indices), native, password, dpi)


def render_document(
    path: str | Path,
    budget: PixelBudget,
    page_spec: str | None = None,
    password: str | None = None,
    dpi: float = DEFAULT_PDF_DPI,
    limits: InputLimits | None = None,
) -> RenderedDocument:
    """Render the selected pages of ``path`` at the sizes the budgets allow."""
    document = measure_document(path, page_spec, password, dpi, limits)
    return document.rendered(0, plan_for(document, budget))


def plan_for(document: DocumentPages, budget: PixelBudget) -> PagePlan:
    """:func:`plan_pages` for a measured document; a page it cannot size is an error naming the file."""
    try:
        return plan_pages(list(document.native_sizes), budget)
    except InputError as exc:
        raise exc.for_file(document.source.path) from None
