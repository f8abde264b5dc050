"""``qvl render``: the page images the model would see, to tune budgets.

The render workers write each page as soon as it is rendered and then release it, so memory
stays flat however long the document; only the page records come back to this process.
"""

from __future__ import annotations

from pathlib import Path

from qvl_cli.errors import OutputError
from qvl_cli.pages.pool import open_renderer
from qvl_cli.pages.windows import Window
from qvl_cli.pages.workers import RenderedPage, RenderRequest
from qvl_cli.settings import RenderSettings


def render_pages(path: Path, out: Path, settings: RenderSettings) -> list[Path]:
    """Save every selected page as ``<stem>-p<NNN>.png`` in ``out`` and print a size table.

    A page is rendered at its size in the first window that holds it (pages shared by two
    windows may be sent at a slightly different size in the second)."""
    from rich.console import Console
    from rich.table import Table

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
    table = Table(title=f"{path} ({page_count} pages)", title_justify="left")
    columns: tuple[str, ...] = ("page", "source size", "rendered size", "visual tokens", "file")
    if len(plan) > 1:
        columns = ("window", *columns)
    for column in columns:
        if column == "file":  # a narrow terminal wraps the path rather than cutting it
            table.add_column(column, justify="left", overflow="fold")
        else:
            table.add_column(column, justify="right", no_wrap=True)
    _, _, window_numbers = _page_sizes(plan)
    written = []
    for window_number, page in zip(window_numbers, pages, strict=True):
        target = Path(page.extras["file"])
        written.append(target)
        row = [str(page.number), "{} x {}".format(*page.source_size), "{} x {}".format(*page.size)]
        row += [str(page.visual_tokens), str(target)]
        table.add_row(*([window_number] if len(plan) > 1 else []), *row)
    total_tokens = sum(page.visual_tokens for page in pages)
    table.caption = f"{total_tokens} visual tokens in all{_note(plan)}"
    Console().print(table)
    return written


def _render(request: RenderRequest, settings: RenderSettings) -> tuple[int, tuple[Window, ...], list[RenderedPage]]:
    """Measure and plan in a worker; one window is rendered right away, the pages of several at
    each page's size in its first window, spread over the workers."""
    renderer = open_renderer(settings.render_workers, settings.render_timeout or None)
    try:
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
