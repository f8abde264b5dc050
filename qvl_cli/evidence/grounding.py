"""Evidence in the extraction pipeline: read page text where pages are rendered, and ground an
answer's values in it (the envelope's ``evidence``, not-found warnings, ``--require-evidence``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from qvl_cli.answers.validation import Issue

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from qvl_cli.answers.normalize import Normalized
    from qvl_cli.evidence.pages import TextOptions
    from qvl_cli.evidence.reread import Regions
    from qvl_cli.evidence.text import PageText
    from qvl_cli.pages.rasterize import RenderedDocument

REQUIRE_EVIDENCE = "does not appear in the document (--require-evidence)"


@dataclass(frozen=True)
class Grounding:
    evidence: dict[str, dict[str, Any] | None] | None = None
    warnings: tuple[str, ...] = ()
    issues: tuple[Issue, ...] = ()


def ocr_cache_dir() -> str:
    """OCR results live beside the result cache (``$QVL_CACHE_DIR/ocr``)."""
    from qvl_cli.runs.cache import default_cache_dir

    return str(default_cache_dir() / "ocr")


def text_options(mode: str) -> TextOptions | None:
    """How the render workers read page text for evidence (``None`` when ``mode`` is off)."""
    if mode == "off":
        return None
    from qvl_cli.evidence.pages import TextOptions

    return TextOptions(mode, ocr_cache_dir())


def ocr_key(path: str | Path, sha256: str | None = None) -> str | None:
    """The file's hash, which keys its pages' OCR in the cache (``None`` when unreadable)."""
    if sha256 is not None:
        return sha256
    from pathlib import Path

    from qvl_cli.pages.inputs import file_sha256

    try:
        return file_sha256(Path(path))
    except OSError:
        return None


def with_page_text(
    document: RenderedDocument, mode: str, password: str | None = None, sha256: str | None = None
) -> RenderedDocument:
    """The document with its pages' text read (nothing is read when ``mode`` is off)."""
    if mode == "off":
        return document
    from qvl_cli.evidence.pages import TextOptions, document_text

    sha256 = ocr_key(document.source.path, sha256)
    text = document_text(document, TextOptions(mode, ocr_cache_dir()), password, sha256)
    return replace(document, text=text)


def region_reader(document: RenderedDocument, options: Any, sha256: str | None, renderer: Any = None) -> Regions | None:
    """What looks again at a document's scanned pages (``None`` when evidence reads no OCR), in
    the render workers of ``renderer`` when it has them."""
    if options.evidence in ("off", "text") or document.text is None or document.source.in_memory:
        return None  # page images given in memory have no file to draw regions from
    from qvl_cli.evidence.reread import RegionReader

    key = ocr_key(document.source.path, sha256)
    return RegionReader.rendered(document, options.password, options.dpi, key, renderer)


def ground(
    data: Any,
    text: Sequence[PageText] | None,
    schema: dict[str, Any] | None,
    normalized: Sequence[Normalized],
    options: Any,
    reread: Regions | None = None,
) -> Grounding:
    """Evidence for ``data`` (none when the page text was not read), warnings for values not found,
    and, with ``require_evidence``, an error for each of them; ``reread`` looks again at scanned
    pages for values their OCR does not hold."""
    if text is None or data is None:
        return Grounding()
    normalized_map = {change.pointer: change.to_dict() for change in normalized}
    return ground_pages(data, text, schema, normalized_map, options, reread=reread)


def ground_pages(
    data: Any,
    pages: Iterable[PageText],
    schema: dict[str, Any] | None,
    normalized: dict[str, Any],
    options: Any,
    origin: dict[str, list[int]] | None = None,
    reread: Regions | None = None,
) -> Grounding:
    """:func:`ground` over pages read one at a time (a generator), with each value's pages of
    origin when the answer was merged from windows."""
    from qvl_cli.evidence.locate import locate

    located = locate(data, pages, schema, normalized, origin, reread)
    issues: tuple[Issue, ...] = ()
    if options.require_evidence:
        issues = tuple(Issue(pointer, REQUIRE_EVIDENCE) for pointer, _ in located.missing)
        if located.unsearched:
            from qvl_cli.evidence.unsearched import unsearched_error

            issues += (Issue("", unsearched_error(located.blind, len(located.unsearched))),)
    return Grounding(located.evidence, located.warnings, issues)
