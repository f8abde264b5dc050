"""Lossless PNG files of rendered pages, fast.

Rows are stored unfiltered (PNG filter type 0) and compressed by zlib at the chosen level; a
page whose red, green and blue are equal everywhere (most rendered documents: black text on
white) is stored as greyscale, a third of the data, decoding to the same RGB values. A
resolution (``info["dpi"]``) is kept, and an ICC profile (``info["icc_profile"]``) where it fits
the file's colour type (an RGB profile in an RGB file, a grey one in a greyscale file: a scan
converted from CMYK keeps no CMYK profile, a grey page drops its RGB profile). On rendered
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
PROFILE_SPACES = {"L": b"GRAY", "LA": b"GRAY", "RGB": b"RGB ", "RGBA": b"RGB "}  # ICC header, bytes 16-20
SAMPLE_STEP = 8  # the grey check looks at one pixel in 8 x 8 first


def encode_png(image: Image.Image, level: int = DEFAULT_LEVEL) -> bytes:
    """The PNG file of ``image``, zlib at ``level`` (0: stored .. 9: smallest): its pixels exactly,
    a grey RGB image's as greyscale (the same colours), with its ICC profile and resolution."""
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
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))
    idat = _chunk(b"IDAT", zlib.compress(rows, level))
    return SIGNATURE + header + _metadata(image, mode) + idat + _chunk(b"IEND", b"")


def _pixels(image: Image.Image) -> tuple[bytes, str]:
    """The raw pixels and their mode: an RGB image whose three bands are equal as one band (L)."""
    if image.mode == "RGB" and _sample_is_grey(image):
        red, green, blue = (band.tobytes() for band in image.split())
        if red == green == blue:
            return red, "L"
    return image.tobytes(), image.mode


def _sample_is_grey(image: Image.Image) -> bool:
    """Whether a sample of the pixels (one in ``SAMPLE_STEP`` squared, a grid) is grey: a colour
    page is told apart from it without copying its bands; only a grey page is then checked whole."""
    from PIL import Image

    width, height = image.size
    size = (max(1, width // SAMPLE_STEP), max(1, height // SAMPLE_STEP))
    sample = image.resize(size, Image.Resampling.NEAREST).tobytes()
    return sample[0::3] == sample[1::3] == sample[2::3]


def _metadata(image: Image.Image, mode: str) -> bytes:
    """The chunks that come before the pixels: the ICC profile (iCCP, compressed) when it is one
    for ``mode``'s colours, and the resolution (pHYs, pixels per metre), as Pillow writes them."""
    chunks = b""
    icc = image.info.get("icc_profile")
    if icc and icc[16:20] == PROFILE_SPACES[mode]:
        chunks += _chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    dpi = image.info.get("dpi")
    if dpi and len(dpi) == 2 and all(value > 0 for value in dpi):
        per_metre = (int(value / 0.0254 + 0.5) for value in dpi)
        chunks += _chunk(b"pHYs", struct.pack(">IIB", *per_metre, 1))
    return chunks


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _pillow_png(image: Image.Image, level: int) -> bytes:
    import io

    buffer = io.BytesIO()
    dpi = image.info.get("dpi")
    image.save(buffer, format="PNG", compress_level=level, **({"dpi": dpi} if dpi else {}))
    return buffer.getvalue()
