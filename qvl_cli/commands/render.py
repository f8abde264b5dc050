"""``qvl render``: the page images the model would see, to tune budgets.

The render workers write each page as soon as it is rendered and then release it, so memory
stays flat however long the document; only the page records come back to this process.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from qvl_cli.errors import OutputError
from qvl_cli.pages.inputs import open_source
from qvl_cli.pages.pool import open_renderer
from qvl_cli.pages.windows import Window, legibility_warning
from qvl_cli.pages.workers import RenderedPage, RenderRequest
from qvl_cli.settings import RenderSettings
from qvl_cli.wording import plural

if TYPE_CHECKING:
    from rich.table import Table

FULL_TABLE_PAGES = 20  # longer documents get a row per run of pages rendered alike


def render_pages(path: Path, out: Path, settings: RenderSettings) -> list[Path]:
    """Save every selected page as ``<stem>-p<NNN>.png`` in ``out`` and print a size table (a row
    a page; past ``FULL_TABLE_PAGES`` pages, a row per run of pages rendered alike).

    A page is rendered at its size in the first window that holds it (pages shared by two
    windows may be sent at a slightly different size in the second)."""
    from qvl_cli.widths import stdout_console

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder: {exc.strerror or exc}", path=out) from None
    request = RenderRequest(
        str(path),
        settings.budget(),
        settings.pages,
        settings.password,
        settings.dpi,
        settings.limits(),
        png_dir=str(out),
        png_compression=settings.png_compression,
        keep_pixels=False,
        windows=settings.windows(),
    )
    page_count, plan, pages = _render(request, settings)
    positions, _, window_numbers = _page_sizes(plan)
    rows = [
        PageRow(window, page.number, page.number, page.source_size, page.size, page.visual_tokens, page.extras["file"])
        for window, page in zip(window_numbers, pages, strict=True)
    ]
    shown = rows if len(rows) <= FULL_TABLE_PAGES else runs(rows)
    table = _table(f"{path} ({plural(page_count, 'page')})", shown, len(plan) > 1)
    table.caption = f"{sum(page.visual_tokens for page in pages)} visual tokens in all{_note(plan)}"
    stdout_console(table).print(table)
    numbers = dict(zip(positions, (page.number for page in pages), strict=True))
    plans = [(tuple(numbers[p] for p in window.positions), window.plan) for window in plan]
    if warning := legibility_warning(plans, request.budget.max_total_pixels, request.windows.min_page_pixels):
        sys.stderr.write(f"qvl: warning: {path}: {warning}\n")
    return [Path(page.extras["file"]) for page in pages]


@dataclass(frozen=True)
class PageRow:
    """One row of the size table: a page, or a run of pages rendered alike (``first``-``last``)."""

    window: str
    first: int
    last: int
    source_size: tuple[int, int]
    size: tuple[int, int]
    visual_tokens: int  # a page
    file: str  # the first page's file
    last_file: str | None = None


def runs(rows: list[PageRow]) -> list[PageRow]:
    """Consecutive pages of the same window, source size and rendered size as one row each."""
    merged: list[PageRow] = []
    for row in rows:
        if merged and _continues(merged[-1], row):
            merged[-1] = replace(merged[-1], last=row.last, last_file=row.file)
        else:
            merged.append(row)
    return merged


def _continues(run: PageRow, row: PageRow) -> bool:
    same = (run.window, run.source_size, run.size) == (row.window, row.source_size, row.size)
    return same and run.last + 1 == row.first


def _table(title: str, rows: list[PageRow], windowed: bool) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    columns: tuple[str, ...] = ("page", "source size", "rendered size", "visual tokens", "file")
    if windowed:
        columns = ("window", *columns)
    for column in columns:
        if column == "file":  # a narrow terminal wraps the path rather than cutting it
            table.add_column(column, justify="left", overflow="fold")
        else:
            table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        pages = str(row.first) if row.first == row.last else f"{row.first}-{row.last}"
        files = row.file if row.last_file is None else f"{row.file} ... {Path(row.last_file).name}"
        tokens = str(row.visual_tokens) if row.first == row.last else f"{row.visual_tokens} each"
        cells = [pages, "{} x {}".format(*row.source_size), "{} x {}".format(*row.size), tokens, files]
        table.add_row(*([row.window] if windowed else []), *cells)
    return table


def _render(request: RenderRequest, settings: RenderSettings) -> tuple[int, tuple[Window, ...], list[RenderedPage]]:
    """Measure and plan in a worker; one window is rendered right away, the pages of several at
    each page's size in its first window, spread over the workers."""
    renderer = open_renderer(settings.render_workers, settings.render_timeout or None)
    try:
        if open_source(request.path).is_pdf:  # pages of a long PDF find every worker ready once measured
            renderer.start()  # (an image is one page: one worker)
        result = renderer.run(request)
        windows = result.windows
        if result.measured is not None and len(windows) > 1:
            positions, sizes, _ = _page_sizes(windows)
            result = renderer.render_pages(request, result.measured, positions, sizes)
    finally:
        renderer.close()
    return result.page_count, windows, list(result.pages)


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
