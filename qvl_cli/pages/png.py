"""Lossless PNG files of rendered pages, fast.

Rows are stored unfiltered (PNG filter type 0) and compressed by zlib at the chosen level; a
page whose red, green and blue are equal everywhere (most rendered documents: black text on
white) is stored as greyscale, a third of the data, decoding to the same RGB values. On rendered
pages this is both faster and smaller than Pillow's encoder, which tries five row filters on
every row and keeps all three channels. Modes without a plain 8-bit PNG colour type are written
by Pillow.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_LEVEL = 1  # zlib's fastest level (README.md, `qvl render`, has the figures)
SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOR_TYPES = {"L": (0, 1), "RGB": (2, 3), "LA": (4, 2), "RGBA": (6, 4)}  # mode: (PNG colour type, bytes a pixel)


def encode_png(image: Image.Image, level: int = DEFAULT_LEVEL) -> bytes:
    """The PNG file of ``image``, zlib at ``level`` (0: stored .. 9: smallest): its pixels exactly,
    a grey RGB image's as greyscale (the same colours)."""
    if not 0 <= level <= 9:
        raise ValueError(f"PNG compression level must be 0-9, not {level}")
    if image.mode not in COLOR_TYPES:
        return _pillow_png(image, level)
    raw, mode = _pixels(image)
    color_type, channels = COLOR_TYPES[mode]
    width, height = image.size
    stride = width * channels
    pixels = memoryview(raw)
    parts: list[bytes | memoryview] = []
    for start in range(0, len(pixels), stride):
        parts += (b"\x00", pixels[start : start + stride])  # filter type 0, then the row as it is
    rows = b"".join(parts)
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, level)) + _chunk(b"IEND", b"")


def _pixels(image: Image.Image) -> tuple[bytes, str]:
    """The raw pixels and their mode: an RGB image whose three bands are equal as one band (L)."""
    if image.mode == "RGB":
        red, green, blue = (band.tobytes() for band in image.split())
        if red == green == blue:
            return red, "L"
    return image.tobytes(), image.mode


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _pillow_png(image: Image.Image, level: int) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()
