"""Evidence for a document read in windows of pages.

Each page's text is read where the page is rendered, as for a document of one window: by the
render worker, right after it draws the window's pages (text layer, OCR where needed), so OCR is
bounded by ``--render-timeout``, a crash costs this document only, and the reading overlaps the
model's work on the previous window. A page shared by two windows is read with the first. Only
the text records are kept across windows (compressed, spilled to a temporary file when large), never
page images, so memory stays flat in the number of pages. After the merge, every value of the
merged answer is located over those records.

Each value also has its pages of origin (the window it was read from). The two agree when the
page its evidence cites lies within those pages: a value printed on several pages cites one of
its origin pages, and a value printed only elsewhere keeps that evidence with a warning naming
the pointer, the page it is printed on and the pages it was read from.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Self

from qvl_cli.evidence.grounding import Grounding, ground_pages, text_options

if TYPE_CHECKING:
    from qvl_cli.evidence.reread import Regions
    from qvl_cli.evidence.text import PageText
    from qvl_cli.pages.rasterize import DocumentPages, RenderedDocument
    from qvl_cli.pages.windows import Window
    from qvl_cli.runs.document import ExtractOptions

SPOOL_BYTES = 8 * 1024 * 1024  # text records beyond this go to a temporary file


class PageTexts:
    """The text records of a document's pages, kept packed (:func:`~qvl_cli.evidence.pages.pack_text`;
    in memory up to ``SPOOL_BYTES``, then in an anonymous temporary file) and unpacked one page at
    a time."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # closed by close()
        self._where: dict[int, tuple[int, int]] = {}  # page number -> (offset, length)

    @property
    def numbers(self) -> frozenset[int]:
        """The pages whose text is kept."""
        return frozenset(self._where)

    def add(self, records: Iterable[tuple[int, bytes]]) -> None:
        """Keep these packed records (page number, bytes); a page already kept keeps its first."""
        for number, record in records:
            if number in self._where:
                continue
            self._file.seek(0, 2)
            self._where[number] = (self._file.tell(), len(record))
            self._file.write(record)

    def read_pages(self, numbers: Sequence[int]) -> Iterator[PageText]:
        """The text of the pages ``numbers`` that are kept, in that order, one at a time."""
        from qvl_cli.evidence.pages import unpack_text

        for number in numbers:
            if number not in self._where:
                continue
            offset, length = self._where[number]
            self._file.seek(offset)
            yield unpack_text(self._file.read(length))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ground_windows(
    texts: Iterable[PageText],
    data: Any,
    schema: dict[str, Any],
    normalized: dict[str, Any],
    origin: dict[str, list[int]] | None,
    options: ExtractOptions,
    reread: Regions | None = None,
) -> Grounding:
    """Evidence for the merged ``data`` of a windowed document, located in ``texts`` (its pages'
    text as the windows read it, in page order); nothing when evidence is off."""
    if options.evidence == "off" or data is None:
        return Grounding()
    return ground_pages(data, texts, schema, normalized, options, origin, reread)


def drawn_here(
    pages: DocumentPages, mode: str, sha256: str | None
) -> Callable[[Window, PageTexts | None], RenderedDocument]:
    """Render windows in this process (page images given in memory, which never go to the render
    workers), reading each new page's text as its window is drawn, as a worker would."""

    def render(window: Window, texts: PageTexts | None) -> RenderedDocument:
        rendered = pages.rendered(window.start, window.plan)
        options = text_options(mode)
        if texts is None or options is None:
            return rendered
        from qvl_cli.evidence.pages import pack_text, read_text

        fresh = [(page.number - 1, page.image) for page in rendered.pages if page.number not in texts.numbers]
        path, is_pdf = str(pages.source.path), pages.source.is_pdf
        read = read_text(path, is_pdf, fresh, options, pages.password, sha256)
        texts.add((text.page, pack_text(text)) for text in read)
        return rendered

    return render
