"""The page images of a review: each record's file rendered again as the model saw it.

Pages listed in the record are drawn at their recorded size (so boxes, given as fractions of
the page as rendered, land where the model's page had them); records without that list are
rendered under their own budgets (``budget`` in the record), or qvl's defaults.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from qvl_cli.errors import QvlError
from qvl_cli.pages.budgets import PixelBudget, plan_pages
from qvl_cli.pages.inputs import file_sha256, open_source
from qvl_cli.pages.rasterize import DEFAULT_PDF_DPI, PDFIUM_LOCK, PageSource, open_pages

if TYPE_CHECKING:
    from PIL import Image

MAX_SIDE = 1600  # longest side of an embedded page, in pixels
WEBP_QUALITY = 80
MAX_UNLISTED_PAGES = 20  # pages shown for a record that does not list its pages


@dataclass(frozen=True)
class PageView:
    """One page of the report: its image as a data URI, or why there is none."""

    number: int
    width: int
    height: int
    image: str | None
    problem: str | None = None


@dataclass(frozen=True)
class PageSet:
    pages: tuple[PageView, ...]
    problem: str | None = None  # about the whole file: missing, unreadable, changed


def locate_file(name: str, base: Path | None, sha256: str | None = None) -> Path | None:
    """The record's file as given (relative to the working folder), else relative to the records
    file's folder, else to the nearest folder above it where the same document is (its
    ``sha256``, when the record has one: a file of that name elsewhere up the tree is another).

    ``qvl extract`` records a path as it was given, relative to the folder it ran in; records
    written with ``-o`` are usually kept in that folder or below it (``out/run.jsonl``), so
    looking upwards from the records finds the documents wherever the review runs.
    """
    path = Path(name)
    if path.is_file():
        return path
    if base is None or path.is_absolute() or not name:
        return None
    if (base / path).is_file():
        return base / path
    for folder in base.parents:
        candidate = folder / path
        if candidate.is_file() and (not sha256 or _sha256(candidate) == sha256):
            return candidate
    return None


def _sha256(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


def page_images(record: Mapping[str, Any], base: Path | None, password: str | None) -> PageSet:
    """Render the pages of ``record``'s file; a file that is gone or unreadable is a ``problem``."""
    listed = _listed_pages(record)
    recorded = record.get("sha256")
    path = locate_file(str(record.get("file", "")), base, recorded if isinstance(recorded, str) else None)
    if path is None:
        missing = f"file not found: {record.get('file')}"
        return PageSet(tuple(PageView(n, w, h, None, "file not found") for n, (w, h) in listed), missing)
    try:
        pages, note = _render(path, record, listed, password)
    except QvlError as exc:
        reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return PageSet(tuple(PageView(n, w, h, None, reason) for n, (w, h) in listed), f"{path}: {reason}")
    sha256 = record.get("sha256")
    if isinstance(sha256, str) and sha256 and file_sha256(path) != sha256:
        note = "the file has changed since it was extracted: pages and boxes may not match"
    return PageSet(pages, note)


def _listed_pages(record: Mapping[str, Any]) -> list[tuple[int, tuple[int, int]]]:
    """``(page number, (width, height))`` of every page the record lists with its size."""
    found = []
    for entry in record.get("pages") or ():
        if not isinstance(entry, dict):
            continue
        number, size = entry.get("page"), entry.get("size")
        if isinstance(number, int) and number >= 1 and _is_size(size):
            found.append((number, (int(size[0]), int(size[1]))))
    return found


def _is_size(size: Any) -> TypeGuard[list[int]]:
    return (
        isinstance(size, list | tuple)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1 << 15 for v in size)
    )


def _render(
    path: Path, record: Mapping[str, Any], listed: list[tuple[int, tuple[int, int]]], password: str | None
) -> tuple[tuple[PageView, ...], str | None]:
    budget, dpi = _budget(record.get("budget"))
    source = open_source(path)
    with PDFIUM_LOCK if source.is_pdf else nullcontext(), open_pages(source, password, dpi) as document:
        note = None
        if not listed:
            count = min(document.page_count, MAX_UNLISTED_PAGES)
            if count < document.page_count:
                note = f"showing the first {count} of {document.page_count} pages"
            plan = plan_pages([document.native_size(i) for i in range(count)], budget)
            listed = [(i + 1, size) for i, size in enumerate(plan.sizes)]
        return tuple(_page(document, number, size) for number, size in listed), note


def _page(document: PageSource, number: int, size: tuple[int, int]) -> PageView:
    if number > document.page_count:
        return PageView(number, *size, None, f"the file has only {document.page_count} pages")
    try:
        image = document.render(number - 1, size)
    except QvlError as exc:
        return PageView(number, *size, None, exc.message)
    return PageView(number, *size, data_uri(image))


def _budget(raw: Any) -> tuple[PixelBudget, float]:
    """The record's budgets (qvl's defaults for what it does not say)."""
    default = PixelBudget()
    if not isinstance(raw, dict):
        return default, DEFAULT_PDF_DPI
    dpi = raw.get("pdf_dpi")
    try:
        budget = PixelBudget(
            int(raw.get("min_pixels") or default.min_pixels),
            int(raw.get("max_pixels") or default.max_pixels),
            int(raw["max_total_pixels"]) if raw.get("max_total_pixels") else None,
        )
    except (QvlError, TypeError, ValueError):
        budget = default
    return budget, float(dpi) if isinstance(dpi, int | float) and dpi > 0 else DEFAULT_PDF_DPI


def data_uri(image: Image.Image) -> str:
    """The page as a WebP data URI, its longest side at most :data:`MAX_SIDE`."""
    from PIL import Image

    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4)
    return "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
