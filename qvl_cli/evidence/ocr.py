"""OCR of page images with rapidocr-onnxruntime (PP-OCR detection and recognition in ONNX,
models inside the wheel, offline, CPU), cached by file content, page and image size.

The engine is built once per process, on first use.
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
ENGINE_NAME = "rapidocr-onnxruntime-1"  # part of the cache key: new engine, new results
_ENGINE: Any = None
_ENGINE_LOCK = threading.Lock()


class OcrUnavailableError(QvlError):
    kind = "ocr"


def engine() -> Any:
    """The process's OCR engine (built on first call; safe from several threads)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise OcrUnavailableError(
                    "OCR needs rapidocr-onnxruntime", hint="pip install rapidocr-onnxruntime, or --evidence text"
                ) from None
            _ENGINE = RapidOCR()
        return _ENGINE


def ocr_lines(image: Image.Image) -> tuple[Line, ...]:
    """The text lines OCR reads on ``image``, boxes as fractions of it."""
    import numpy as np

    rgb = np.asarray(image.convert("RGB"))
    result, _ = engine()(np.ascontiguousarray(rgb[:, :, ::-1]))  # the engine expects BGR, as OpenCV
    width, height = image.size
    lines = []
    for quad, text, _score in result or ():
        text = " ".join(str(text).split())
        if not text:
            continue
        xs = [float(point[0]) / width for point in quad]
        ys = [float(point[1]) / height for point in quad]
        lines.append(Line(text, _char_boxes(text, (min(xs), min(ys), max(xs), max(ys)))))
    return tuple(lines)


def _char_boxes(text: str, box: Box) -> tuple[Box, ...]:
    """Spread a line's box over its characters in proportion (OCR gives lines, not glyphs)."""
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
    target = None
    if cache_dir is not None and key is not None:
        digest = hashlib.sha256(f"{ENGINE_NAME}:{key}:{image.size[0]}x{image.size[1]}".encode()).hexdigest()
        target = cache_dir / digest[:2] / f"{digest}.json"
        try:
            cached = PageText.from_dict(json.loads(target.read_text(encoding="utf-8")))
            return PageText(number, cached.source, cached.lines)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass
    page = PageText(number, "ocr", ocr_lines(image.draw() if isinstance(image, LazyImage) else image))
    if target is not None:
        _store(target, page)
    return page


def _store(target: Path, page: PageText) -> None:
    from qvl_cli.runs.writers import write_atomically

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, json.dumps(page.to_dict(), ensure_ascii=False, separators=(",", ":")))
    except OSError as exc:
        log.warning("OCR cache not written (%s): %s", target, exc)
