"""The unit of rendering work a worker process runs: picklable tasks in, picklable pages out.

A document is rendered in one or more :class:`PageTask` s. The first measures every selected
page and plans its windows under the budgets (and renders the pages too when there are few in
one window); the pages of a window are then rendered in slices, spread over the workers.
:func:`run_task` is the one function a worker calls, so per-page work beyond the image (a PNG
written to disk, the page's text for evidence, OCR included) happens there, right after the
page is rendered, and its results travel back in :attr:`RenderedPage.extras`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qvl_cli.errors import InputError, QvlError
from qvl_cli.pages.budgets import PagePlan, PixelBudget, visual_tokens
from qvl_cli.pages.inputs import SourceFile, open_source, parse_page_ranges
from qvl_cli.pages.png import DEFAULT_LEVEL
from qvl_cli.pages.rasterize import (
    DEFAULT_PDF_DPI,
    PDFIUM_LOCK,
    DocumentPages,
    InputLimits,
    PageImage,
    RenderedDocument,
    open_pages,
    probe_document,
)
from qvl_cli.pages.windows import Window, WindowSettings, plan_windows

if TYPE_CHECKING:
    from PIL import Image

    from qvl_cli.evidence.pages import TextOptions
    from qvl_cli.evidence.text import Box, Line
    from qvl_cli.pages.rasterize import PageSource

INLINE_PAGES = 8  # a document with at most this many selected pages is rendered by one task
SLICE_PAGES = 8  # pages per task when a longer document is spread over the workers
Progress = Callable[[], None]
PageSlot = tuple[int, tuple[int, int], tuple[int, int]]  # (index, source size, rendered size)


@dataclass(frozen=True)
class RenderRequest:
    """One document to render, and what to do with each page."""

    path: str
    budget: PixelBudget = field(default_factory=PixelBudget)
    page_spec: str | None = None
    password: str | None = None
    dpi: float = DEFAULT_PDF_DPI
    limits: InputLimits = field(default_factory=InputLimits)
    png_dir: str | None = None  # also write each page there as <stem>-p<NNN>.png (extras["file"])
    png_compression: int = DEFAULT_LEVEL  # zlib level of those files (0-9; pixels are the same at every level)
    keep_pixels: bool = True  # False: only the page records come back (e.g. when the PNGs are the output)
    png_data: bool = False  # pages sent as PNG (extras["png"]; ink in extras["ink"]): what a server backend sends
    windows: WindowSettings = field(default_factory=WindowSettings)
    text: TextOptions | None = None  # read each page's text for evidence (extras["text"], packed); None: not
    text_done: frozenset[int] = frozenset()  # page numbers whose text an earlier window read: not read again
    sha256: str | None = field(default=None, repr=False)  # the file's hash: the OCR cache's key
    probe: bool = False  # only check that the document opens (``TaskResult.protected``)
    # A closer look: (page number, size, regions): that page drawn at that size and the regions
    # (fractions) read with OCR, each region's lines in ``TaskResult.regions``; nothing else done.
    closer: tuple[int, tuple[int, int], tuple[Box, ...]] | None = None

    @property
    def raw_pixels(self) -> bool:
        """The pages' pixels come back raw (with ``png_data`` their PNG carries them: a tenth of
        the bytes to send, decoded only if something needs the pixels)."""
        return self.keep_pixels and not self.png_data


@dataclass(frozen=True)
class PageTask:
    """A slice of one document: ``pages`` to render, or ``None`` to measure and plan first."""

    request: RenderRequest
    pages: tuple[PageSlot, ...] | None = None


@dataclass(frozen=True)
class RenderedPage:
    """One rendered page: a Pillow image in-process, raw pixels across a process boundary (or
    only its PNG in ``extras["png"]``, for a server backend)."""

    number: int  # 1-based
    source_size: tuple[int, int]
    size: tuple[int, int]
    image: Image.Image | None = None
    mode: str = "RGB"
    pixels: bytes = b""
    text_chars: int = 0  # characters in the page's text layer
    extras: dict[str, Any] = field(default_factory=dict)  # per-page results beyond the image

    def packed(self) -> RenderedPage:
        """Raw bytes instead of the image object (cheaper to send than PNG or a pickled image)."""
        if self.image is None:
            return self
        return replace(self, image=None, mode=self.image.mode, pixels=self.image.tobytes())

    def unpacked(self) -> RenderedPage:
        """The image object again, its raw bytes let go (so a window's bytes and images are never
        all held at once)."""
        if self.image is not None or not self.pixels:
            return self
        from PIL import Image

        image = Image.frombuffer(self.mode, self.size, self.pixels, "raw", self.mode, 0, 1)
        return replace(self, image=image, pixels=b"")

    def to_page_image(self) -> PageImage:
        """The page as the model takes it. A page that came as PNG (``png_data``) gets an image
        decoded from it on first use: the same pixels, greyscale (mode L) for a grey page."""
        image = self.unpacked().image
        if image is None and "png" in self.extras:
            import io

            from PIL import PngImagePlugin

            image = PngImagePlugin.PngImageFile(io.BytesIO(self.extras["png"]))  # our own file: no bomb check
        if image is None:
            raise ValueError(f"page {self.number} was rendered without keeping its pixels")
        extras = {key: value for key, value in self.extras.items() if key != "text"}
        return PageImage(self.number, self.source_size, image, self.text_chars, extras)

    @property
    def visual_tokens(self) -> int:
        return visual_tokens(*self.size)


@dataclass(frozen=True)
class FailedTask:
    """An input error raised in a worker, in a form that survives pickling."""

    kind: type[QvlError]
    message: str
    path: str | None
    hint: str | None

    @classmethod
    def of(cls, exc: QvlError) -> FailedTask:
        return cls(type(exc), exc.message, exc.path, exc.hint)

    def error(self) -> QvlError:
        return self.kind(self.message, path=self.path, hint=self.hint)


@dataclass(frozen=True)
class TaskResult:
    """What a task produced: the plan and windows (from the measuring task), pages, and pages
    still to do."""

    source: SourceFile | None = None
    page_count: int = 0
    plan: PagePlan | None = None  # None when the document has several windows
    pages: tuple[RenderedPage, ...] = ()
    todo: tuple[PageSlot, ...] = ()
    failure: FailedTask | None = None
    measured: DocumentPages | None = None
    windows: tuple[Window, ...] = ()
    protected: bool = False  # a probe's answer: the PDF does not open without its password
    regions: tuple[tuple[Line, ...], ...] = ()  # a closer look's lines, region by region

    def packed(self) -> TaskResult:
        return replace(self, pages=tuple(page.packed() for page in self.pages))

    def unpacked(self) -> TaskResult:
        return replace(self, pages=tuple(page.unpacked() for page in self.pages))


def run_task(task: PageTask, progress: Progress | None = None) -> TaskResult:
    """Measure/plan or render one slice; input errors come back as ``failure``, never raised.

    ``progress`` is called after each step (the plan, every page rendered, every page's text
    read): the pool's per-page timeout counts from the last call.
    """
    tick = progress or _nothing
    try:
        request = task.request
        if request.probe:  # opening a hostile PDF can crash PDFium: done here too
            protected = probe_document(request.path, request.password, request.limits, request.dpi)
            return TaskResult(open_source(request.path), protected=protected)
        if request.closer is not None:
            from qvl_cli.evidence.reread import read_regions

            source = open_source(request.path)
            with _pdfium(source), open_pages(source, request.password, request.dpi) as pages:
                image = pages.render(request.closer[0] - 1, request.closer[1])
            return TaskResult(source, regions=read_regions(image, request.closer[2], tick))
        if task.pages is None:
            return _measure(task.request, tick)
        source = open_source(task.request.path)
        with _pdfium(source), open_pages(source, task.request.password, task.request.dpi) as pages:
            rendered = _render(pages, task.request, source, task.pages, tick)
        return TaskResult(source=source, pages=with_text(rendered, task.request, source, tick))
    except QvlError as exc:
        return TaskResult(failure=FailedTask.of(exc))


def _measure(request: RenderRequest, tick: Progress) -> TaskResult:
    """Measure the selected pages and plan the windows; a short single window is rendered too."""
    source = open_source(request.path)
    request.limits.enforce_on_file(source)
    with _pdfium(source), open_pages(source, request.password, request.dpi) as pages:
        indices = parse_page_ranges(request.page_spec, pages.page_count)
        request.limits.enforce_on_pages(source, len(indices))
        native = tuple(pages.native_size(i) for i in indices)
        measured = DocumentPages(
            source, pages.page_count, tuple(i + 1 for i in indices), native, request.password, request.dpi
        )
        windows = plan_document(measured, request.budget, request.windows)
        tick()
        if len(windows) > 1:  # rendered window by window, when each window's turn comes
            return TaskResult(source, pages.page_count, None, measured=measured, windows=windows)
        plan = windows[0].plan
        slots = page_slots(measured, windows[0].positions, plan.sizes)
        if len(slots) > INLINE_PAGES:
            return TaskResult(source, pages.page_count, plan, todo=slots, measured=measured, windows=windows)
        rendered = _render(pages, request, source, slots, tick)
    rendered = with_text(rendered, request, source, tick)
    return TaskResult(source, pages.page_count, plan, rendered, measured=measured, windows=windows)


def plan_document(pages: DocumentPages, budget: PixelBudget, settings: WindowSettings) -> tuple[Window, ...]:
    """:func:`plan_windows` for a measured document; a page that cannot be sized names the file."""
    try:
        return plan_windows(list(pages.native_sizes), budget, settings)
    except InputError as exc:
        raise exc.for_file(pages.source.path) from None


def page_slots(
    pages: DocumentPages, positions: Sequence[int], sizes: Sequence[tuple[int, int]]
) -> tuple[PageSlot, ...]:
    """The render slots of the pages at ``positions`` of the selection, at ``sizes``."""
    slots = []
    for position, size in zip(positions, sizes, strict=True):
        w, h = pages.native_sizes[position]
        slots.append((pages.numbers[position] - 1, (round(w), round(h)), size))
    return tuple(slots)


def planned(
    measured: DocumentPages, positions: Sequence[int], sizes: Sequence[tuple[int, int]], plan: PagePlan | None
) -> TaskResult:
    """A measuring task's result for pages already measured: only ``todo`` is left to render."""
    todo = page_slots(measured, positions, sizes)
    return TaskResult(measured.source, measured.page_count, plan, todo=todo, measured=measured)


def _pdfium(source: SourceFile) -> AbstractContextManager[Any]:
    """PDFium is not thread-safe: the process-wide lock for PDFs (uncontended in a worker)."""
    return PDFIUM_LOCK if source.is_pdf else nullcontext()


def _render(
    pages: PageSource, request: RenderRequest, source: SourceFile, slots: tuple[PageSlot, ...], tick: Progress
) -> tuple[RenderedPage, ...]:
    """Render the slots' pages; their text layer's characters are counted only when the pixels
    come back (the blank-page check needs both; ``qvl render`` needs neither)."""
    out = []
    for index, source_size, size in slots:
        image = pages.render(index, size)
        extras = _page_extras(request, source, index + 1, image)
        kept = image if request.raw_pixels or request.text is not None else None
        chars = pages.text_chars(index) if request.keep_pixels else 0
        out.append(RenderedPage(index + 1, source_size, size, kept, text_chars=chars, extras=extras))
        tick()
    return tuple(out)


def with_text(
    pages: tuple[RenderedPage, ...], request: RenderRequest, source: SourceFile, tick: Progress
) -> tuple[RenderedPage, ...]:
    """Read each page's text for evidence where it was rendered (text layer, or OCR where the
    page needs it), packed into ``extras["text"]``; outside the PDFium lock, one page at a time.
    Pages in ``request.text_done`` (read with an earlier window) are left as they are."""
    if request.text is None or request.text.mode == "off":
        return pages
    from qvl_cli.evidence.pages import pack_text, read_text

    out = []
    for page in pages:
        image = page.image if request.raw_pixels else None
        if page.number in request.text_done:
            out.append(replace(page, image=image))
            continue
        assert page.image is not None  # kept for the text
        [text] = read_text(
            request.path, source.is_pdf, [(page.number - 1, page.image)], request.text, request.password, request.sha256
        )
        out.append(replace(page, image=image, extras={**page.extras, "text": pack_text(text)}))
        tick()
    return tuple(out)


def _page_extras(request: RenderRequest, source: SourceFile, number: int, image: Image.Image) -> dict[str, Any]:
    """Per-page work done where the page was rendered; its results go in the page's ``extras``."""
    extras: dict[str, Any] = {}
    if request.png_data and request.keep_pixels:  # (a page drawn again for its OCR only needs neither)
        from qvl_cli.answers.guards import ink_fraction
        from qvl_cli.pages.png import encode_png

        extras["png"] = encode_png(image)
        extras["ink"] = ink_fraction(image)  # the blank-page check, without the pixels
    if request.png_dir is not None:
        target = Path(request.png_dir) / f"{source.path.stem}-p{number:03d}.png"
        extras["file"] = str(save_png(image, target, request.png_compression))
    return extras


def save_png(image: Image.Image, target: Path, level: int = DEFAULT_LEVEL) -> Path:
    """Write ``target`` atomically (a temporary file renamed over it), zlib at ``level``."""
    from qvl_cli.errors import OutputError
    from qvl_cli.pages.png import encode_png

    data = encode_png(image, level)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temp.write_bytes(data)
        temp.replace(target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write page image: {exc.strerror or exc}", path=target) from None
    return target


@dataclass(frozen=True)
class RenderResult:
    """The pages of one document (or one window) as they came back from the workers, in page
    order; a document of several windows comes back measured and planned, without pages."""

    source: SourceFile
    page_count: int
    plan: PagePlan | None
    pages: tuple[RenderedPage, ...]
    measured: DocumentPages | None = None
    windows: tuple[Window, ...] = ()
    text: bool = False  # the pages' text was read (extras["text"])
    protected: bool = False  # a probe's answer (see RenderRequest.probe)
    regions: tuple[tuple[Line, ...], ...] = ()  # a closer look's lines (see RenderRequest.closer)

    def document(self) -> RenderedDocument:
        """The document as the model takes it (needs the pixels: ``keep_pixels``)."""
        if self.plan is None:
            raise ValueError("a document of several windows is rendered one window at a time")
        images = tuple(page.to_page_image() for page in self.pages)
        text = None
        if self.text:
            from qvl_cli.evidence.pages import unpack_text

            text = tuple(unpack_text(page.extras["text"]) for page in self.pages)
        return RenderedDocument(self.source, self.page_count, images, self.plan, text)


def collect(first: TaskResult, slices: list[TaskResult], request: RenderRequest) -> RenderResult:
    """The document from its measuring task and the slices rendered after it (in any order)."""
    if first.source is None:
        raise ValueError("the measuring task carries the source")
    pages = sorted([*first.pages, *(page for part in slices for page in part.pages)], key=lambda page: page.number)
    text = request.text is not None and request.text.mode != "off"
    return RenderResult(
        first.source,
        first.page_count,
        first.plan,
        tuple(pages),
        first.measured,
        first.windows,
        text,
        first.protected,
        first.regions,
    )


def split(slots: tuple[PageSlot, ...], size: int = SLICE_PAGES) -> list[tuple[PageSlot, ...]]:
    return [slots[start : start + size] for start in range(0, len(slots), size)]


def _nothing() -> None:
    return None
