"""Pages given as images in memory (the Python API), sized and windowed as file pages are.

The images stay the caller's: each page is oriented, converted and resized when its window is
about to run, and released after, so a long list of pages is read in windows under
``--max-total-pixels`` with every page at or above the legibility floor, as a long PDF is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qvl_cli.errors import InputError
from qvl_cli.pages.images import to_rgb
from qvl_cli.pages.inputs import MEMORY_KIND, SourceFile
from qvl_cli.pages.rasterize import DocumentPages, PageImage

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class MemoryPages(DocumentPages):
    """Pages that are images in memory; :meth:`render` draws them at the sizes asked."""

    images: tuple[Image.Image, ...] = field(default=(), repr=False, compare=False)

    def render(self, positions: Sequence[int], sizes: Sequence[tuple[int, int]]) -> Iterator[PageImage]:
        from PIL import Image

        for position, size in zip(positions, sizes, strict=True):
            picture = upright(self.images[position])
            page = picture if picture.size == size else picture.resize(size, Image.Resampling.BICUBIC)
            yield PageImage(self.numbers[position], picture.size, page)


def upright(image: Image.Image) -> Image.Image:
    """The page as it is meant to be seen: EXIF orientation applied, RGB."""
    from PIL import ImageOps

    return to_rgb(ImageOps.exif_transpose(image) or image)


def images_document(images: Sequence[Image.Image], name: str) -> tuple[MemoryPages, str]:
    """A document of ``images`` (one page each), measured but not drawn, and the SHA-256 of its
    pixels, which stands in for a file's hash. One image is converted at a time."""
    if not images:
        raise InputError("no page images were given", path=name)
    digest = hashlib.sha256()
    native = []
    for image in images:
        picture = upright(image)
        native.append((float(picture.width), float(picture.height)))
        digest.update(f"{picture.width}x{picture.height};".encode())
        digest.update(picture.tobytes())
        del picture
    pages = MemoryPages(
        SourceFile(Path(name), MEMORY_KIND, 0),
        len(images),
        tuple(range(1, len(images) + 1)),
        tuple(native),
        images=tuple(images),
    )
    return pages, digest.hexdigest()
