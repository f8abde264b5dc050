"""OCR of page images with rapidocr-onnxruntime (PP-OCR detection and recognition in ONNX,
models inside the wheel, offline, CPU), cached by file content, page and image size.

The engine is built once per process, when a page first needs it (a render worker says so to
the qvl process, so building, about a second, never counts against a page's timeout).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qvl_cli.errors import QvlError
from qvl_cli.evidence.text import Box, Line, PageText

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)
ENGINE_NAME = "rapidocr-onnxruntime-3"  # part of the cache key: new engine, new results
_ENGINE: Any = None
SPLIT_GAP = 1.5  # a gap this many line heights wide inside a detected line parts two columns
_ENGINE_LOCK = threading.Lock()
CALL_LOCK = threading.Lock()  # rapidocr keeps per-call state on the engine: one call at a time
_BUILD_NOTICE: tuple[Callable[[], None], Callable[[], None]] | None = None  # before, after building
_THREADS: int | None = None  # the engine's CPU threads (None: onnxruntime's default, every core)


class OcrUnavailableError(QvlError):
    kind = "ocr"


def engine() -> Any:
    """The process's OCR engine (built on first call; safe from several threads)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = announced(build_engine)
        return _ENGINE


def announced(build: Callable[[], Any]) -> Any:
    """``build()`` (an engine), with the render worker told before and after: building an engine
    is start-up, bounded apart, never counted against a page's time."""
    before, after = _BUILD_NOTICE or (_nothing, _nothing)
    before()
    try:
        return build()
    finally:
        after()


def configure_engine(threads: int, before: Callable[[], None], after: Callable[[], None]) -> None:
    """How a render worker wants its engine: ``threads`` CPU threads (its share of the cores),
    and ``before`` and ``after`` called around building it (the worker stops its page clock)."""
    global _BUILD_NOTICE, _THREADS
    _BUILD_NOTICE, _THREADS = (before, after), threads


def build_engine() -> Any:
    if _THREADS is None:
        return rapidocr()
    return rapidocr(intra_op_num_threads=_THREADS, inter_op_num_threads=1)


def rapidocr(**options: Any) -> Any:
    """A new rapidocr engine with ``options`` (one clear error when it is not installed)."""
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        raise OcrUnavailableError(
            "OCR needs rapidocr-onnxruntime", hint="pip install rapidocr-onnxruntime, or --evidence text"
        ) from None
    return RapidOCR(**options)


def _nothing() -> None:
    return None


def ocr_lines(image: Image.Image) -> tuple[Line, ...]:
    """The text lines OCR reads on ``image``, boxes as fractions of it (each character's own box
    where the engine reports it, so a value inside a line gets a box of its own)."""
    import numpy as np

    rgb = np.asarray(image.convert("RGB"))
    # The engine expects BGR, as OpenCV.
    reader = engine()
    with CALL_LOCK:  # documents may be located in several threads (server backends)
        result, _ = reader(np.ascontiguousarray(rgb[:, :, ::-1]), return_word_box=True)
    width, height = image.size
    lines = []
    for quad, text, _score, *glyphs in result or ():
        xs = [float(point[0]) / width for point in quad]
        ys = [float(point[1]) / height for point in quad]
        lines.extend(split_line(str(text), (min(xs), min(ys), max(xs), max(ys)), glyphs, (width, height)))
    return tuple(lines)


def split_line(text: str, box: Box, glyphs: list[Any], size: tuple[int, int]) -> list[Line]:
    """The lines of one detected line: its characters with their own boxes where the engine
    gives them (single spaces kept, boxes spanning the line's height), split where a gap wider
    than ``SPLIT_GAP`` line heights parts two columns the detector joined."""
    if len(glyphs) < 2 or not glyphs[1] or len(glyphs[0] or ()) != len(glyphs[1]):
        text = " ".join(text.split())
        return [Line(text, _char_boxes(text, box))] if text else []
    gap = SPLIT_GAP * (box[3] - box[1]) * size[1] / size[0]  # line heights, as a fraction of the width
    pieces: list[tuple[list[str], list[Box]]] = [([], [])]
    for quad, glyph in zip(glyphs[0], glyphs[1], strict=True):
        char = " " if str(glyph).isspace() else str(glyph)[:1]
        chars, boxes = pieces[-1]
        if not char or (char == " " and (not chars or chars[-1] == " ")):
            continue
        xs = [float(point[0]) / size[0] for point in quad]
        printed = [b for c, b in zip(chars, boxes, strict=True) if c != " "]
        if char != " " and printed and min(xs) - printed[-1][2] > gap:
            pieces.append(([], []))
            chars, boxes = pieces[-1]
        chars.append(char)
        boxes.append((min(xs), box[1], max(xs), box[3]))
    lines = []
    for chars, boxes in pieces:
        while chars and chars[-1] == " ":
            chars.pop()
            boxes.pop()
        if chars:
            lines.append(Line("".join(chars), tuple(boxes)))
    return lines


def _char_boxes(text: str, box: Box) -> tuple[Box, ...]:
    """Spread a line's box over its characters in proportion (when the engine gives no glyphs)."""
    x0, y0, x1, y1 = box
    step = (x1 - x0) / len(text)
    return tuple((x0 + i * step, y0, x0 + (i + 1) * step, y1) for i in range(len(text)))


@dataclass(frozen=True)
class LazyImage:
    """A page image drawn only when OCR needs its pixels: a cached result needs only its size."""

    size: tuple[int, int]
    draw: Callable[[], Image.Image]


def ocr_page(
    image: Image.Image | LazyImage, number: int, cache_dir: Path | None = None, key: str | None = None
) -> PageText:
    """OCR one page; with ``cache_dir`` and ``key`` (file hash and page), results are reused."""
    cached = cached_ocr(image.size, number, cache_dir, key)
    if cached is not None:
        return cached
    page = PageText(number, "ocr", ocr_lines(image.draw() if isinstance(image, LazyImage) else image))
    target = _target(image.size, cache_dir, key)
    if target is not None:
        _store(target, page)
    return page


def cached_ocr(size: tuple[int, int], number: int, cache_dir: Path | None, key: str | None) -> PageText | None:
    """The page's OCR as cached for an image of ``size`` (``None`` when not cached)."""
    target = _target(size, cache_dir, key)
    if target is None:
        return None
    try:
        cached = PageText.from_dict(json.loads(target.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    return PageText(number, cached.source, cached.lines)


def _target(size: tuple[int, int], cache_dir: Path | None, key: str | None) -> Path | None:
    if cache_dir is None or key is None:
        return None
    digest = hashlib.sha256(f"{ENGINE_NAME}:{key}:{size[0]}x{size[1]}".encode()).hexdigest()
    return cache_dir / digest[:2] / f"{digest}.json"


def _store(target: Path, page: PageText) -> None:
    from qvl_cli.runs.targets import write_atomically

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, json.dumps(page.to_dict(), ensure_ascii=False, separators=(",", ":")))
    except OSError as exc:
        log.warning("OCR cache not written (%s): %s", target, exc)
