"""Pages given as images in memory (the Python API), sized by the same budgets as files."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qvl_cli.errors import InputError
from qvl_cli.pages.budgets import PixelBudget, plan_pages
from qvl_cli.pages.images import to_rgb
from qvl_cli.pages.inputs import SourceFile
from qvl_cli.pages.rasterize import PageImage, RenderedDocument

if TYPE_CHECKING:
    from PIL import Image


def images_document(images: Sequence[Image.Image], budget: PixelBudget, name: str) -> tuple[RenderedDocument, str]:
    """A document of ``images`` (one page each, EXIF-oriented, RGB, resized to the budgets) and
    the SHA-256 of its pixels, which stands in for a file's hash."""
    from PIL import Image, ImageOps

    if not images:
        raise InputError("no page images were given", path=name)
    pictures = [to_rgb(ImageOps.exif_transpose(image) or image) for image in images]
    try:
        plan = plan_pages([(float(p.width), float(p.height)) for p in pictures], budget)
    except InputError as exc:
        raise exc.for_file(name) from None
    pages = tuple(
        PageImage(
            number, picture.size, picture if picture.size == size else picture.resize(size, Image.Resampling.BICUBIC)
        )
        for number, (picture, size) in enumerate(zip(pictures, plan.sizes, strict=True), start=1)
    )
    digest = hashlib.sha256()
    for picture in pictures:
        digest.update(f"{picture.width}x{picture.height};".encode())
        digest.update(picture.tobytes())
    return RenderedDocument(SourceFile(Path(name), "image", 0), len(pages), pages, plan), digest.hexdigest()
