"""``qvl render``: the page images the model would see, to tune budgets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qvl_cli.errors import OutputError
from qvl_cli.pages.rasterize import render_document
from qvl_cli.settings import RenderSettings

if TYPE_CHECKING:
    from PIL import Image


def render_pages(path: Path, out: Path, settings: RenderSettings) -> list[Path]:
    """Save every selected page as ``<stem>-p<NNN>.png`` in ``out`` and print a size table."""
    from rich.console import Console
    from rich.table import Table

    document = render_document(
        path, settings.budget(), settings.pages, settings.password, settings.dpi, settings.limits()
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder: {exc.strerror or exc}", path=out) from None
    table = Table(title=f"{path} ({document.page_count} pages)", title_justify="left")
    for column in ("page", "source size", "rendered size", "visual tokens", "file"):
        table.add_column(column, justify="left" if column == "file" else "right")
    written = []
    for page in document.pages:
        target = out / f"{path.stem}-p{page.number:03d}.png"
        _save_png(page.image, target)
        written.append(target)
        table.add_row(
            str(page.number),
            "{} x {}".format(*page.source_size),
            "{} x {}".format(*page.size),
            str(page.visual_tokens),
            str(target),
        )
    total_tokens = sum(page.visual_tokens for page in document.pages)
    shrunk = ", pages shrunk to fit --max-total-pixels" if document.plan.shrunk else ""
    table.caption = f"{total_tokens} visual tokens in all{shrunk}"
    Console().print(table)
    return written


def _save_png(image: Image.Image, target: Path) -> None:
    temp = target.with_name(f".{target.name}.tmp")
    try:
        image.save(temp, format="PNG")
        temp.replace(target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write page image: {exc.strerror or exc}", path=target) from None
