"""A second, closer look at scanned pages for values the page's OCR does not hold.

A value OCR misread on the page (a digit dropped in small print, a line the detector missed) is
often read right when a small region is read again at twice the resolution. For each value not
found, the regions worth a look are where something like it is printed (the lines most similar
to it) and beside the values of its own object that were found (a form field's value right of or
below its key). Each region is drawn again from the document at twice the page's size, read with
OCR (detection at the crop's own size, no rotation guess), and the value is accepted there only
as an exact match (numbers and dates in any printed form, strings exactly after case folding):
a closer look may find what was printed, never something merely close to it.

The work is bounded: only pages read with OCR, only values not found, at most
``MAX_REGIONS_PER_PAGE`` regions a page, each at most ``MAX_REGION_SHARE`` of the page; each
region's lines are cached beside the page's OCR. A line the region's edge cuts through is left
out: a fragment of a word (``en`` of ``Willkommen``) is not what the page prints.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qvl_cli.errors import QvlError
from qvl_cli.evidence.text import Box, Line, PageText, union

if TYPE_CHECKING:
    from PIL import Image

    from qvl_cli.evidence.matching import Hit, PageIndex
    from qvl_cli.pages.rasterize import DocumentPages, RenderedDocument

log = logging.getLogger(__name__)
ENGINE_NAME = "rapidocr-onnxruntime-region-3"  # part of the cache key
SCALE = 2  # regions are read at this multiple of the page's size
EDGE = 0.5  # line heights: a line this near an edge of a region inside the page was cut by it
MAX_REGIONS_PER_PAGE = 4
MAX_REGIONS_PER_DOCUMENT = 8  # about a second of CPU each: a model inventing values costs at most this
MAX_REGION_SHARE = 0.12  # of the page's area
MAX_REGIONS_PER_VALUE = 2
NEAR_MIN_SCORE = 70  # how similar (0..100) lines must be to a value to be looked at again
NEAR_MAX_LINES = 3
BESIDE_SCORE = 50.0  # a region beside a found key ranks below lines much like the value
MARGIN_LINES = 1.5  # a region reaches this many line heights beyond the lines it looks at
_ENGINE: Any = None

Regions = Callable[[int, list[Box]], tuple[Line, ...]]  # page number, regions -> lines read there
# page number, size to draw it at, regions -> each region's lines (drawn and read here or in a worker)
ReadRegions = Callable[[int, tuple[int, int], tuple[Box, ...]], tuple[tuple[Line, ...], ...]]


@dataclass(order=True)
class Region:
    """A place worth a second look: higher ``score`` first."""

    score: float
    page: int = field(compare=False)
    box: Box = field(compare=False)


def near_misses(folded: str, index: PageIndex) -> list[Region]:
    """The places of a page printing something like ``folded`` (a value's folded letters and
    digits): runs of up to ``NEAR_MAX_LINES`` lines read by OCR whose text resembles it."""
    from rapidfuzz import fuzz

    if len(folded) < 3 or not _ocr_page(index):
        return []
    found = []
    for window in index.windows:
        if len(window.lines) > NEAR_MAX_LINES or len(window.folded) < min(len(folded), 6) // 2:
            continue
        score = fuzz.partial_ratio(folded, window.folded, score_cutoff=NEAR_MIN_SCORE)
        if score:
            # Similar text much shorter than the value counts less: a short line matches a part of anything.
            share = min(1.0, len(window.folded) / len(folded))
            box = union([index.lines[line].box for line in window.lines])
            found.append(Region(score * (0.5 + 0.5 * share), index.page.page, _widen(box)))
    return sorted(found, reverse=True)[:MAX_REGIONS_PER_VALUE]


def beside(box: Box, page: int) -> Region:
    """The region right of and below a found key or sibling value, where its value is printed."""
    height = box[3] - box[1]
    return Region(BESIDE_SCORE, page, _clip((box[0] - height, box[1] - height, box[2] + 0.45, box[3] + 4 * height)))


def _widen(box: Box) -> Box:
    height = box[3] - box[1]
    margin = MARGIN_LINES * height
    return _clip((box[0] - 2 * margin, box[1] - margin, box[2] + 2 * margin, box[3] + margin))


def _clip(box: Box) -> Box:
    return (max(0.0, box[0]), max(0.0, box[1]), min(1.0, box[2]), min(1.0, box[3]))


def _ocr_page(index: PageIndex) -> bool:
    return index.page.source == "ocr" or any(line.source == "ocr" for line in index.lines)


def fit(box: Box) -> Box:
    """``box`` shrunk about its middle to at most ``MAX_REGION_SHARE`` of the page."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    if area <= MAX_REGION_SHARE:
        return box
    shrink = (MAX_REGION_SHARE / area) ** 0.5
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    w, h = (box[2] - box[0]) * shrink / 2, (box[3] - box[1]) * shrink / 2
    return (cx - w, cy - h, cx + w, cy + h)


def pick(regions: Iterable[Region]) -> dict[int, list[Box]]:
    """Per page, the best regions up to ``MAX_REGIONS_PER_PAGE`` (one inside another is read once)."""
    chosen: dict[int, list[Box]] = {}
    for region in sorted(regions, reverse=True):
        boxes = chosen.setdefault(region.page, [])
        box = fit(region.box)
        if len(boxes) < MAX_REGIONS_PER_PAGE and not any(_inside(box, other) for other in boxes):
            boxes.append(box)
    return chosen


def _inside(a: Box, b: Box) -> bool:
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


def region_pages(read: Regions, chosen: dict[int, list[Box]]) -> list[PageText]:
    """The lines read again in each page's chosen regions, as pages to search."""
    return [PageText(page, "ocr", lines) for page, boxes in sorted(chosen.items()) if (lines := read(page, boxes))]


class RegionReader:
    """Reads regions of a document's pages at ``SCALE`` times their size (``draw(page, size)``
    draws a page at a size; ``sizes`` gives each page's size as rendered), caching the lines
    of each region by the document's hash, page, size and region. With ``read``, the page is
    drawn and its regions read there instead (a render worker: see :func:`in_workers`)."""

    @classmethod
    def rendered(
        cls, document: RenderedDocument, password: str | None, dpi: float, sha256: str | None, renderer: Any = None
    ) -> RegionReader:
        """A reader of a rendered document's pages, drawn again from its file (by the render
        workers of ``renderer`` when it has them)."""
        from qvl_cli.evidence.grounding import ocr_cache_dir

        source = document.source  # not the document: the reader may outlive its page images

        def draw(page: int, size: tuple[int, int]) -> Image.Image:
            from contextlib import nullcontext

            from qvl_cli.pages.rasterize import PDFIUM_LOCK, open_pages

            with PDFIUM_LOCK if source.is_pdf else nullcontext(), open_pages(source, password, dpi) as pages:
                return pages.render(page - 1, size)

        sizes = {page.number: page.size for page in document.pages}
        read = in_workers(renderer, str(source.path), password, dpi)
        return cls(draw, sizes, ocr_cache_dir(), sha256, read)

    @classmethod
    def of(
        cls,
        document: DocumentPages,
        sizes: Mapping[int, tuple[int, int]],
        cache_dir: str | None,
        sha256: str | None,
        renderer: Any = None,
    ) -> RegionReader:
        """A reader of the selected pages of a measured document, rendered at ``sizes``."""

        def draw(page: int, size: tuple[int, int]) -> Image.Image:
            position = document.numbers.index(page)
            return next(iter(document.render([position], [size]))).image

        read = in_workers(renderer, str(document.source.path), document.password, document.dpi)
        return cls(draw, dict(sizes), cache_dir, sha256, read)

    def __init__(
        self,
        draw: Callable[[int, tuple[int, int]], Image.Image],
        sizes: dict[int, tuple[int, int]],
        cache_dir: str | None = None,
        sha256: str | None = None,
        read: ReadRegions | None = None,
    ) -> None:
        self.draw, self.sizes = draw, sizes
        self.read = read or self._read_here
        self.cache_dir = Path(cache_dir) if cache_dir and sha256 else None
        self.sha256 = sha256
        self.left = MAX_REGIONS_PER_DOCUMENT  # regions this document may still look at

    def __call__(self, page: int, boxes: list[Box]) -> tuple[Line, ...]:
        size = self.sizes.get(page)
        if size is None:
            return ()
        taken = boxes[: max(0, self.left)]  # cached ones count too: a warm run finds what a cold one does
        self.left -= len(taken)
        targets = [self._target(page, size, box) for box in taken]
        found = [_load(target) for target in targets]
        missing = tuple(box for box, lines in zip(taken, found, strict=True) if lines is None)
        if missing:
            try:
                read = iter(self._read_all(page, (size[0] * SCALE, size[1] * SCALE), missing))
            except (QvlError, OSError, ValueError) as exc:  # a closer look is a bonus, never a failure
                log.warning("page %d not read again: %s", page, exc)
                return tuple(line for lines in found if lines is not None for line in lines)
            for position, target in enumerate(targets):
                if found[position] is None:
                    found[position] = lines = next(read)
                    _store(target, lines)
        return tuple(line for lines in found if lines is not None for line in lines)

    def _read_all(self, page: int, size: tuple[int, int], boxes: tuple[Box, ...]) -> tuple[tuple[Line, ...], ...]:
        """Every region's lines, one entry a region (ValueError when a reader returns fewer)."""
        read = tuple(self.read(page, size, boxes))
        if len(read) != len(boxes):
            raise ValueError(f"{len(read)} regions read of {len(boxes)}")
        return read

    def _read_here(self, page: int, size: tuple[int, int], boxes: tuple[Box, ...]) -> tuple[tuple[Line, ...], ...]:
        return read_regions(self.draw(page, size), boxes)

    def _target(self, page: int, size: tuple[int, int], box: Box) -> Path | None:
        if self.cache_dir is None:
            return None
        region = ",".join(f"{v:.4f}" for v in box)
        key = f"{ENGINE_NAME}:{self.sha256}:{page}:{size[0]}x{size[1]}:{SCALE}:{region}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.json"


def in_workers(renderer: Any, path: str, password: str | None, dpi: float) -> ReadRegions | None:
    """Regions drawn and read by the render workers of ``renderer`` (ahead of documents rendered
    in advance: the answer waits for them), so drawing a page at twice its size is isolated as
    its rendering is; ``None`` for in-process rendering (``--render-workers 0``). A crash or
    timeout there raises the renderer's error: the values stay not found, the record is kept."""
    from qvl_cli.pages.pool import ProcessRenderer
    from qvl_cli.pages.workers import RenderRequest

    if not isinstance(renderer, ProcessRenderer):
        return None

    def read(page: int, size: tuple[int, int], boxes: tuple[Box, ...]) -> tuple[tuple[Line, ...], ...]:
        request = RenderRequest(path, password=password, dpi=dpi, closer=(page, size, boxes))
        return renderer.submit(request, urgent=True).result().regions

    return read


def read_regions(
    image: Image.Image, boxes: Iterable[Box], progress: Callable[[], None] | None = None
) -> tuple[tuple[Line, ...], ...]:
    """:func:`read_region` for each of ``boxes`` of ``image`` (``progress`` after each)."""
    out = []
    for box in boxes:
        out.append(read_region(image, box))
        if progress is not None:
            progress()
    return tuple(out)


def read_region(image: Image.Image, box: Box) -> tuple[Line, ...]:
    """OCR of ``box`` (fractions) of ``image``, lines with boxes as fractions of the whole image."""
    import numpy as np

    from qvl_cli.evidence.ocr import CALL_LOCK, split_line

    width, height = image.size
    left, top = int(box[0] * width), int(box[1] * height)
    crop = image.crop((left, top, max(left + 1, int(box[2] * width)), max(top + 1, int(box[3] * height))))
    rgb = np.asarray(crop.convert("RGB"))
    reader = region_engine()
    with CALL_LOCK:  # one OCR call at a time in this process (see qvl_cli.evidence.ocr)
        result, _ = reader(np.ascontiguousarray(rgb[:, :, ::-1]), use_cls=False, return_word_box=True)
    lines = []
    for quad, text, _score, *glyphs in result or ():
        if _cut(quad, crop.size, (left > 0, top > 0, left + crop.width < width, top + crop.height < height)):
            continue
        xs = [(left + float(point[0])) / width for point in quad]
        ys = [(top + float(point[1])) / height for point in quad]
        moved = glyphs
        if len(glyphs) >= 2 and glyphs[0] and glyphs[1]:
            moved = [[[[x + left, y + top] for x, y in quad] for quad in glyphs[0]], glyphs[1]]
        lines.extend(split_line(str(text), (min(xs), min(ys), max(xs), max(ys)), moved, (width, height)))
    return tuple(lines)


def _cut(quad: Any, size: tuple[int, int], inside: tuple[bool, bool, bool, bool]) -> bool:
    """Whether a detected line touches an edge of the region that lies inside the page: the
    region's edge cut through it, and what was read is a fragment (``en`` of ``Willkommen``)."""
    xs = [float(point[0]) for point in quad]
    ys = [float(point[1]) for point in quad]
    edge = EDGE * (max(ys) - min(ys))  # a cut glyph's remains may stand a little way in
    touches = (min(xs) <= edge, min(ys) <= edge, max(xs) >= size[0] - edge, max(ys) >= size[1] - edge)
    return any(t and i for t, i in zip(touches, inside, strict=True))


def region_engine() -> Any:
    """An OCR engine for regions: detection at the region's own size (the page engine scales
    every image up to a 736-pixel short side, which splits a small region's lines into words)."""
    from qvl_cli.evidence import ocr

    global _ENGINE
    with ocr._ENGINE_LOCK:
        if _ENGINE is None:
            threads = {} if ocr._THREADS is None else {"intra_op_num_threads": ocr._THREADS, "inter_op_num_threads": 1}
            _ENGINE = ocr.announced(lambda: ocr.rapidocr(det_limit_type="max", **threads))  # the worker's cores
        return _ENGINE


def _load(target: Path | None) -> tuple[Line, ...] | None:
    if target is None:
        return None
    try:
        return PageText.from_dict(json.loads(target.read_text(encoding="utf-8"))).lines
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def _store(target: Path | None, lines: tuple[Line, ...]) -> None:
    if target is None:
        return
    from qvl_cli.runs.targets import write_atomically

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(PageText(0, "ocr", lines).to_dict(), ensure_ascii=False, separators=(",", ":"))
        write_atomically(target, text)
    except OSError as exc:
        log.warning("OCR cache not written (%s): %s", target, exc)


class SecondLook:
    """Collects, page by page, where values not found so far may be printed, and afterwards
    looks there again for those still not found."""

    def __init__(self, read: Regions) -> None:
        self.read = read
        self.near: dict[Any, list[Region]] = {}

    def add(self, path: Any, needle: str, index: PageIndex) -> None:
        """Note the places on this page like ``needle`` (the value of ``path``, not found yet)."""
        from qvl_cli.evidence.forms import fold

        found = near_misses(fold(needle)[0], index)
        if found:
            kept = sorted(self.near.get(path, []) + found, reverse=True)
            self.near[path] = kept[:MAX_REGIONS_PER_VALUE]

    def find(self, missing: dict[Any, Any], anchors: dict[Any, list[Hit]]) -> dict[Any, list[Hit]]:
        """Where the ``missing`` values (path -> value search) are printed in a closer look at
        the places like them and beside their ``anchors`` (found keys, labels, siblings)."""
        from qvl_cli.evidence.matching import PageIndex
        from qvl_cli.evidence.search import ValueSearch

        regions = [region for path in missing for region in self.near.get(path, [])]
        regions += [
            beside(hit.box, hit.page)
            for path in missing
            for hit in anchors.get(path, [])[:MAX_REGIONS_PER_VALUE]
            if hit.source == "ocr"
        ]
        pages = [PageIndex(page) for page in region_pages(self.read, pick(regions))]
        found = {}
        for path, search in missing.items():
            exact = ValueSearch(search.value, search.printed_text, fuzzy=False)
            for page in pages:
                exact.add(page)
            if hits := exact.hits():
                found[path] = hits
        return found
