"""Evidence for a document read in windows of pages.

After the merge, every value of the merged answer is located over the whole document, a chunk of
pages at a time: text layers come from PDFium without any image, and a page without one is drawn
again, alone, only when its OCR is not cached. Memory stays flat in the number of pages.

Each value also has its pages of origin (the window it was read from). The two agree when the
page its evidence cites lies within those pages: a value printed on several pages cites one of
its origin pages, and a value printed only elsewhere keeps that evidence with a warning naming
the pointer, the page it is printed on and the pages it was read from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qvl_cli.evidence.grounding import Grounding, ground_pages, ocr_cache_dir

if TYPE_CHECKING:
    from qvl_cli.pages.rasterize import DocumentPages
    from qvl_cli.runs.document import ExtractOptions


def ground_windows(
    pages: DocumentPages,
    sizes: Mapping[int, tuple[int, int]],
    data: Any,
    schema: dict[str, Any],
    normalized: dict[str, Any],
    origin: dict[str, list[int]] | None,
    options: ExtractOptions,
    sha256: str | None,
) -> Grounding:
    """Evidence for the merged ``data`` of a windowed document whose pages were sent at ``sizes``
    (page number -> size); nothing when evidence is off."""
    if options.evidence == "off" or data is None:
        return Grounding()
    from qvl_cli.evidence.pages import TextOptions, streamed_text
    from qvl_cli.evidence.reread import RegionReader

    texts = streamed_text(pages, sizes, TextOptions(options.evidence, ocr_cache_dir()), sha256)
    reread = RegionReader.of(pages, sizes, ocr_cache_dir(), sha256) if options.evidence != "text" else None
    return ground_pages(data, texts, schema, normalized, options, origin, reread)
