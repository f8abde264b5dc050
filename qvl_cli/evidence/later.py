"""Page OCR that overlaps the model's work on the same document.

With render workers, a document comes back as soon as its pages are drawn: text layers read,
and each page that needs OCR (not in the cache) marked ``PENDING``. Its OCR runs as a task of
its own in a worker, the page drawn again at the same size (the same pixels, so the same OCR and
the same cache entry), while the model reads the document; grounding waits for it only once it
needs the text. A crash or timeout of that task fails the document with the same error record
as one of its rendering would. In-process rendering (``--render-workers 0``) reads the OCR with
the pages, as before; documents of several windows read each window's text as it is rendered.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from qvl_cli.evidence.pages import PENDING, unpack_text

if TYPE_CHECKING:
    from qvl_cli.evidence.text import PageText
    from qvl_cli.pages.pool import Renderer
    from qvl_cli.pages.rasterize import RenderedDocument
    from qvl_cli.pages.workers import RenderRequest, RenderResult


def ocr_later(renderer: Renderer, request: RenderRequest) -> RenderRequest:
    """``request`` with its pages' OCR left for a later task where a worker pool can run it
    beside the model (unchanged otherwise)."""
    from qvl_cli.pages.pool import ProcessRenderer

    text = request.text
    if text is None or text.mode not in ("auto", "ocr") or not isinstance(renderer, ProcessRenderer):
        return request
    return replace(request, text=replace(text, later=True))


def with_later_text(renderer: Renderer, request: RenderRequest, result: RenderResult) -> RenderedDocument:
    """The document of ``result`` (rendered for ``ocr_later(request)``), the OCR of its pending
    pages handed to the workers now; :func:`page_text` waits for it."""
    from qvl_cli.pages.pool import ProcessRenderer
    from qvl_cli.pages.workers import planned

    document = result.document()
    known = document.text or ()
    numbers = {text.page for text in known if text.source == PENDING}
    if not numbers:
        return document
    assert isinstance(renderer, ProcessRenderer) and result.measured is not None  # as ocr_later asked
    pending = [page for page in result.pages if page.number in numbers]
    positions = [result.measured.numbers.index(page.number) for page in pending]
    sizes = [page.size for page in pending]
    asked = replace(request, keep_pixels=False)  # only the text comes back
    # ahead of the documents rendered in advance: this one's answer will wait for it
    future = renderer.submit(asked, planned(result.measured, positions, sizes, result.plan), urgent=True)

    def text() -> tuple[PageText, ...]:
        read = {page.number: unpack_text(page.extras["text"]) for page in future.result().pages}
        return tuple(read[page.page] if page.source == PENDING else page for page in known)

    return replace(document, text_later=text)


def page_text(document: RenderedDocument) -> tuple[PageText, ...] | None:
    """The document's page text, once OCR left for later is done (raises the renderer's
    :class:`~qvl_cli.errors.InputError` when that task crashed or timed out)."""
    return document.text if document.text_later is None else document.text_later()
