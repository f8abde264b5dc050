"""``qvl render``: the page images the model would see, to tune budgets.

Each page is written as soon as it is rendered and then released, so memory stays flat however
long the document.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qvl_cli.errors import OutputError
from qvl_cli.pages.rasterize import measure_document
from qvl_cli.pages.windows import Window
from qvl_cli.runs.windows import windows_of
from qvl_cli.settings import RenderSettings

if TYPE_CHECKING:
    from PIL import Image


def render_pages(path: Path, out: Path, settings: RenderSettings) -> list[Path]:
    """Save every selected page as ``<stem>-p<NNN>.png`` in ``out`` and print a size table.

    A page is rendered at its size in the first window that holds it (pages shared by two
    windows may be sent at a slightly different size in the second)."""
    from rich.console import Console
    from rich.table import Table

    document = measure_document(path, settings.pages, settings.password, settings.dpi, settings.limits())
    plan = windows_of(document, settings.budget(), settings.windows())
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder: {exc.strerror or exc}", path=out) from None
    table = Table(title=f"{path} ({document.page_count} pages)", title_justify="left")
    columns: tuple[str, ...] = ("page", "source size", "rendered size", "visual tokens", "file")
    if len(plan) > 1:
        columns = ("window", *columns)
    for column in columns:
        table.add_column(column, justify="left" if column == "file" else "right")
    positions, sizes, window_numbers = _page_sizes(plan)
    written = []
    total_tokens = 0
    for window_number, page in zip(window_numbers, document.render(positions, sizes), strict=True):
        target = out / f"{path.stem}-p{page.number:03d}.png"
        _save_png(page.image, target)
        written.append(target)
        total_tokens += page.visual_tokens
        row = [str(page.number), "{} x {}".format(*page.source_size), "{} x {}".format(*page.size)]
        row += [str(page.visual_tokens), str(target)]
        table.add_row(*([window_number] if len(plan) > 1 else []), *row)
    table.caption = f"{total_tokens} visual tokens in all{_note(plan)}"
    Console().print(table)
    return written


def _page_sizes(plan: tuple[Window, ...]) -> tuple[list[int], list[tuple[int, int]], list[str]]:
    """Each selected page once, at its size in the first window holding it, and its windows."""
    sizes: dict[int, tuple[int, int]] = {}
    holders: dict[int, list[str]] = {}
    for number, window in enumerate(plan, start=1):
        for position, size in zip(window.positions, window.plan.sizes, strict=True):
            sizes.setdefault(position, size)
            holders.setdefault(position, []).append(str(number))
    positions = sorted(sizes)
    return positions, [sizes[p] for p in positions], [",".join(holders[p]) for p in positions]


def _note(plan: tuple[Window, ...]) -> str:
    if len(plan) > 1:
        longest = max(window.stop - window.start for window in plan)
        return f"; {len(plan)} windows of up to {longest} pages, each within --max-total-pixels"
    return ", pages shrunk to fit --max-total-pixels" if plan[0].plan.shrunk else ""


def _save_png(image: Image.Image, target: Path) -> None:
    temp = target.with_name(f".{target.name}.tmp")
    try:
        image.save(temp, format="PNG")
        temp.replace(target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write page image: {exc.strerror or exc}", path=target) from None
